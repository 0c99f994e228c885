// The emulated KVM host: runs a command inside QEMU TCG (-cpu max exposes AMD SVM) booting Debian's kernel with
// kvm-amd, on the host's own root, so tests that need a real /dev/kvm run on machines whose CPU lacks vmx/svm.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { cacheDir, ensureKernel } from '../../images/kernel.js';
import { ConsoleStream } from './console-stream.js';
import { CMDLINE_KEEP, CMDLINE_SHARED, ensureL1Initramfs, HOSTROOT_TAG, RUN_SCRIPT_NAME, SHARED_TMP_TAG } from './l1-initramfs.js';

/** QEMU settings from reference/kvm-host.md. */
const QEMU = 'qemu-system-x86_64';
const QEMU_PACKAGE = 'qemu-system-x86';
const DEFAULT_MEMORY_MIB = 4096;
const DEFAULT_CPUS = 2;
const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
const L1_CMDLINE = 'console=ttyS0 quiet loglevel=1 panic=-1';
/** Exit code for a run that hit its timeout, as timeout(1) reports it. */
export const TIMEOUT_EXIT_CODE = 124;
/** Exit code when L1 ended without reporting the command's exit (crash, kernel panic). */
export const NO_EXIT_REPORTED_CODE = 125;
/** Inside L1, names the shared folder (the same path as on the host). */
export const SHARED_DIR_ENV = 'KQUBES_SHARED_DIR';
const SAFE_PATH_RE = /^\/[A-Za-z0-9._/-]*$/;
/** Host variables passed on by default, besides KQUBES_*. */
const DEFAULT_ENV_NAMES = ['PATH', 'HOME', 'TERM', 'CI'];

export class KvmHostError extends Error {
  override name = 'KvmHostError';
}

/** True only where /dev/kvm opens and the CPU has hardware virtualisation (vmx or svm) to back it. */
export function hasUsableKvm(): boolean {
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
  } catch {
    return false;
  }
  try {
    return /^flags\s*:.*\b(vmx|svm)\b/m.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

export interface KvmHostOptions {
  argv: string[];
  /** Working folder inside L1 (the host's path; the host root is visible at the same paths). Default: process.cwd(). */
  cwd?: string;
  /** Extra variables; PATH, HOME, TERM, CI and KQUBES_* are passed from this process by default. */
  env?: Record<string, string>;
  timeoutMs?: number;
  memoryMiB?: number;
  cpus?: number;
  /** Each piece of the command's output (stdout and stderr together, console \r removed) as it arrives. */
  onOutput?: (chunk: Buffer) => void;
  /**
   * Host folder shared read-write with L1, at the same path inside, and named by $KQUBES_SHARED_DIR there; kept
   * afterwards. Default: a fresh folder under the host's temp dir, removed after the run. /tmp inside L1 is a tmpfs.
   */
  sharedTmp?: string;
  /** Progress lines from the harness itself (building images). */
  log?: (line: string) => void;
}

export interface KvmHostResult {
  exitCode: number;
  output: string;
}

/** Single-quotes a word for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function runScript(argv: string[], cwd: string, env: Record<string, string>): string {
  for (const name of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new KvmHostError(`kvm-host: bad environment variable name "${name}"`);
  }
  const vars = Object.entries(env).map(([k, v]) => shQuote(`${k}=${v}`));
  return [
    '# written by test/harness/kvm-host.ts; runs inside the emulated KVM host',
    `cd ${shQuote(cwd)} || exit 125`,
    `exec env -i ${vars.join(' ')} ${argv.map(shQuote).join(' ')}`,
    '',
  ].join('\n');
}

function defaultEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && (DEFAULT_ENV_NAMES.includes(k) || k.startsWith('KQUBES_'))) env[k] = v;
  }
  return env;
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, tool)));
}

/**
 * Boots L1 (QEMU TCG + Debian kernel + kvm-amd), runs argv there in cwd with the host's root mounted writable
 * (writes go to a tmpfs and are discarded; /tmp is a shared host folder), and returns its exit code and output.
 */
export async function runInKvmHost(opts: KvmHostOptions): Promise<KvmHostResult> {
  if (opts.argv.length === 0) throw new KvmHostError('kvm-host: no command given');
  if (!onPath(QEMU)) throw new KvmHostError(`kvm-host: ${QEMU} not found: apt-get install -y ${QEMU_PACKAGE}`);
  const log = opts.log ?? (() => {});
  const kernel = await ensureKernel(log);
  const initrd = ensureL1Initramfs(kernel, log);

  let sharedTmp: string;
  if (opts.sharedTmp === undefined) {
    sharedTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kqubes-l1-'));
    fs.chmodSync(sharedTmp, 0o1777);
  } else {
    sharedTmp = path.resolve(opts.sharedTmp);
    fs.mkdirSync(sharedTmp, { recursive: true });
  }
  // The path travels on the kernel command line, so it must be one plain word.
  if (!SAFE_PATH_RE.test(sharedTmp)) throw new KvmHostError(`kvm-host: shared folder path "${sharedTmp}" has characters other than [A-Za-z0-9._/-]`);
  // L1's /tmp is its own tmpfs: a checkout or cache that lives under the host's /tmp is mounted back in.
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const keep = [...new Set([cwd, cacheDir()].map((p) => path.resolve(p)))].filter((p) => p.startsWith('/tmp/') && SAFE_PATH_RE.test(p));
  const scriptPath = path.join(sharedTmp, RUN_SCRIPT_NAME);
  const env = { ...defaultEnv(), [SHARED_DIR_ENV]: sharedTmp, ...opts.env };
  fs.writeFileSync(scriptPath, runScript(opts.argv, cwd, env));

  const args = [
    '-accel', 'tcg,thread=multi',
    '-smp', String(opts.cpus ?? DEFAULT_CPUS),
    '-cpu', 'max',
    '-m', String(opts.memoryMiB ?? DEFAULT_MEMORY_MIB),
    '-nographic', '-no-reboot',
    '-kernel', kernel.vmlinuz,
    '-initrd', initrd,
    '-append', `${L1_CMDLINE} ${CMDLINE_SHARED}=${sharedTmp}${keep.length ? ` ${CMDLINE_KEEP}=${keep.join(',')}` : ''}`,
    '-virtfs', `local,path=/,mount_tag=${HOSTROOT_TAG},security_model=none,readonly=on,multidevs=remap`,
    '-virtfs', `local,path=${sharedTmp},mount_tag=${SHARED_TMP_TAG},security_model=none,multidevs=remap`,
  ];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const stream = new ConsoleStream(opts.onOutput);
  let stderr = '';
  try {
    const outcome = await new Promise<'exited' | 'timeout'>((resolve, reject) => {
      // stdin is a pipe we never write: QEMU's stdio console then reads nothing and leaves the terminal alone.
      const qemu = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const timer = setTimeout(() => {
        qemu.kill('SIGKILL');
        resolve('timeout');
      }, timeoutMs);
      qemu.stdout.on('data', (c: Buffer) => stream.feed(c));
      qemu.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
      qemu.on('error', (e) => {
        clearTimeout(timer);
        reject(new KvmHostError(`kvm-host: cannot start ${QEMU}: ${e.message}`));
      });
      qemu.on('close', () => {
        clearTimeout(timer);
        resolve('exited');
      });
    });
    stream.end();
    if (outcome === 'timeout') {
      const msg = `kvm-host: timed out after ${Math.round(timeoutMs / 1000)} s; killed QEMU\n`;
      process.stderr.write(msg);
      return { exitCode: TIMEOUT_EXIT_CODE, output: stream.output + msg };
    }
    if (stream.exitCode === null) {
      const tail = (stream.started ? stream.output : stream.bootLog).split('\n').slice(-15).join('\n');
      const msg = `kvm-host: L1 ended without reporting an exit code${stream.started ? '' : ' (the command never started)'}; last console lines:\n${tail}\n${stderr.trim()}\n`;
      process.stderr.write(msg);
      return { exitCode: NO_EXIT_REPORTED_CODE, output: stream.output + msg };
    }
    if (stream.bootLog.includes('kvm-host (L1):')) {
      process.stderr.write(stream.bootLog.split('\n').filter((l) => l.startsWith('kvm-host (L1):')).join('\n') + '\n');
    }
    return { exitCode: stream.exitCode, output: stream.output };
  } finally {
    if (opts.sharedTmp === undefined) fs.rmSync(sharedTmp, { recursive: true, force: true });
    else fs.rmSync(scriptPath, { force: true });
  }
}
