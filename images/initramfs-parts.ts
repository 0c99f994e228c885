// Building blocks shared by the initramfs builders: busybox with its applets, binaries with their libraries,
// kernel modules in load order, the base folders, and the cached write of the finished archive.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { runTool, ImageBuildError, installHint } from './exec.js';
import type { CpioEntry } from './cpio.js';
import { writeCpio } from './cpio.js';
import { ModuleIndex, readModule } from './kernel-modules.js';

/** Device numbers of the nodes the kernel needs before devtmpfs is mounted (Documentation/admin-guide/devices.txt). */
const CONSOLE_MAJOR = 5;
const CONSOLE_MINOR = 1;
const NULL_MAJOR = 1;
const NULL_MINOR = 3;

/** Where the modules go inside the initramfs, and the list file the init reads (one path per line, load order). */
export const INITRAMFS_MODULES_DIR = 'lib/modules';
export const INITRAMFS_MODULE_LIST = 'etc/kqubes/modules';

const BUSYBOX_CANDIDATES = ['/usr/bin/busybox', '/bin/busybox'];

/** The folders every one of our initramfs images has, and /dev/console so the kernel can open it for init. */
export function baseEntries(): CpioEntry[] {
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'lib', 'lib64', 'etc', 'etc/kqubes', 'proc', 'sys', 'dev', 'tmp', 'run', 'mnt', 'root', INITRAMFS_MODULES_DIR];
  return [
    ...dirs.map((d): CpioEntry => ({ type: 'dir', path: d, mode: d === 'tmp' ? 0o1777 : 0o755 })),
    { type: 'chardev', path: 'dev/console', major: CONSOLE_MAJOR, minor: CONSOLE_MINOR, mode: 0o600 },
    { type: 'chardev', path: 'dev/null', major: NULL_MAJOR, minor: NULL_MINOR, mode: 0o666 },
  ];
}

/** Static busybox at /bin/busybox plus a symlink per applet (except where `skip` already has a file). */
export function busyboxEntries(skip: ReadonlySet<string> = new Set()): CpioEntry[] {
  const bin = BUSYBOX_CANDIDATES.find((p) => fs.existsSync(p));
  if (!bin) throw new ImageBuildError(`busybox not found: ${installHint('busybox')}`);
  const data = fs.readFileSync(bin);
  const list = runTool(bin, ['--list-full']).stdout.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const entries: CpioEntry[] = [{ type: 'file', path: 'bin/busybox', data, mode: 0o755 }];
  for (const applet of list) {
    if (applet === 'bin/busybox' || skip.has(applet)) continue;
    entries.push({ type: 'symlink', path: applet, target: '/bin/busybox' });
  }
  return entries;
}

/** A dynamically linked binary at its own path plus every library ldd names and the dynamic loader. */
export function binaryWithLibs(binary: string): CpioEntry[] {
  if (!fs.existsSync(binary)) throw new ImageBuildError(`${binary} not found`);
  const entries: CpioEntry[] = [{ type: 'file', path: binary, data: fs.readFileSync(binary), mode: 0o755 }];
  const ldd = runTool('ldd', [binary]).stdout.toString('utf8');
  for (const line of ldd.split('\n')) {
    // "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = line.match(/=>\s*(\/\S+)\s*\(/) ?? line.match(/^\s*(\/\S+)\s*\(/);
    if (!m || !m[1]) {
      if (line.includes('not found')) throw new ImageBuildError(`${binary}: ldd says ${line.trim()}`);
      continue;
    }
    entries.push({ type: 'file', path: m[1], data: fs.readFileSync(fs.realpathSync(m[1])), mode: 0o755 });
  }
  return entries;
}

/**
 * The modules for `wanted` (dependencies first) under lib/modules/, and etc/kqubes/modules listing them in load
 * order. Names in `optional` that are built in or absent are skipped.
 */
export function moduleEntries(modulesDir: string, wanted: string[], optional: ReadonlySet<string>): { entries: CpioEntry[]; order: string[] } {
  const order = ModuleIndex.load(modulesDir).loadOrder(wanted, optional);
  const entries: CpioEntry[] = [];
  const listed: string[] = [];
  for (const m of order) {
    const rel = path.join(INITRAMFS_MODULES_DIR, m.relPath.replace(/\.ko\.(xz|zst|gz)$/, '.ko'));
    listed.push(rel.slice(INITRAMFS_MODULES_DIR.length + 1));
    entries.push({ type: 'file', path: rel, data: readModule(m), mode: 0o644 });
  }
  entries.push({ type: 'file', path: INITRAMFS_MODULE_LIST, data: listed.join('\n') + '\n', mode: 0o644 });
  return { entries, order: order.map((m) => m.name) };
}

/**
 * Every folder first (parents before children, missing parents added), then the other entries in their order: the
 * kernel's unpacker does not create parent folders.
 */
export function withParents(entries: CpioEntry[]): CpioEntry[] {
  const norm = (p: string): string => p.replace(/^\/+/, '');
  const dirs = new Map<string, CpioEntry>();
  for (const e of entries) if (e.type === 'dir') dirs.set(norm(e.path), { ...e, path: norm(e.path) });
  for (const e of entries) {
    const segs = norm(e.path).split('/');
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (!dirs.has(d)) dirs.set(d, { type: 'dir', path: d });
    }
  }
  const depth = (p: string): number => p.split('/').length;
  const sortedDirs = [...dirs.values()].sort((a, b) => depth(a.path) - depth(b.path));
  return [...sortedDirs, ...entries.filter((e) => e.type !== 'dir')];
}

/**
 * Serialises the entries and stores the archive as <dir>/<prefix>-<hash>.cpio, named by the hash of its bytes, so
 * the same inputs give the same file and an existing file is left alone.
 */
export function writeCachedArchive(dir: string, prefix: string, entries: CpioEntry[]): { file: string; created: boolean } {
  const archive = writeCpio(withParents(entries));
  const hash = crypto.createHash('sha256').update(archive).digest('hex').slice(0, 16);
  const file = path.join(dir, `${prefix}-${hash}.cpio`);
  if (fs.existsSync(file) && fs.statSync(file).size === archive.length) return { file, created: false };
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, archive);
  fs.renameSync(tmp, file);
  return { file, created: true };
}

/**
 * Shell function for an init script: insmods every module listed in etc/kqubes/modules in order, passing the
 * `<module>.<param>=<value>` arguments of the kernel command line (the kernel applies those only to built-in code;
 * for loadable modules it is modprobe's job, and we use insmod).
 */
export const LOAD_MODULES_SH = `load_modules() {
  set -f
  cmdline=$(cat /proc/cmdline)
  while read -r ko; do
    [ -n "$ko" ] || continue
    mod=\${ko##*/}; mod=\${mod%%.ko*}; mod=$(echo "$mod" | tr - _)
    params=""
    for arg in $cmdline; do
      case "$arg" in "$mod".*) params="$params \${arg#"$mod".}" ;; esac
    done
    insmod "/${INITRAMFS_MODULES_DIR}/$ko" $params || echo "init: insmod $ko failed"
  done < /${INITRAMFS_MODULE_LIST}
  set +f
}
`;
