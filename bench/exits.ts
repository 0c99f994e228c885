// Exits benchmark: time per PIO exit through qvmm's real runtime (VcpuThread worker, exit channel, main-thread
// Bus with a counting BusDevice) against a minimal C KVM_RUN loop on the same /dev/kvm, runs alternating.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Bus } from '../vmm/bus/bus.js';
import type { BusDevice } from '../vmm/bus/bus-device.js';
import { VcpuThread, vcpuKickSignal } from '../vmm/vcpu/vcpu-thread.js';
import { tinyGuest } from '../test/helpers/tiny-guest.js';
import { EXIT_PORT, exitGuestCode, toHex } from './exit-guest.js';
import { median, row, type SummaryRow } from './summary.js';
import { REPO_ROOT } from './vm-commands.js';

const run = promisify(execFile);
/** Goal: a qvmm exit costs at most 1.3x the C loop's. */
export const EXITS_GOAL = 1.3;
const C_SOURCE = path.join(REPO_ROOT, 'bench', 'exit-loop.c');
const C_TIMEOUT_MS = 600_000;

/** The device the guest writes to: counts writes and sums their bytes (so the access is really consumed). */
class CountingDevice implements BusDevice {
  writes = 0;
  sum = 0;
  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }
  write(_offset: number, data: Uint8Array): void {
    this.writes++;
    this.sum += data[0] ?? 0;
  }
}

export interface ExitsResult {
  readonly exits: number;
  readonly qvmmNsPerExit: number[];
  readonly cNsPerExit: number[];
  readonly rows: SummaryRow[];
  readonly seconds: number;
}

/** One qvmm run: ns per exit over the whole loop (the `out`s and the final hlt), worker start-up excluded. */
async function qvmmOnce(n: number): Promise<number> {
  const g = tinyGuest(exitGuestCode(n));
  const device = new CountingDevice();
  const pio = new Bus('pio');
  pio.insert(device, EXIT_PORT, 1, 'bench-counter');
  const kickSignal = vcpuKickSignal();
  let resolveStop!: (reason: string) => void;
  let rejectStop!: (e: Error) => void;
  const stopped = new Promise<string>((resolve, reject) => ((resolveStop = resolve), (rejectStop = reject)));
  const thread = new VcpuThread({
    vcpuId: 0,
    vcpuFd: g.vcpu.fd,
    runMmapSize: g.kvm.vcpuMmapSize(),
    kickSignal,
    pio,
    mmio: new Bus('mmio'),
    onGuestStop: (reason) => resolveStop(reason),
    onError: (message) => rejectStop(new Error(message)),
    log: (line) => process.stderr.write(`exits: ${line}\n`),
  });
  try {
    // Parked before its first KVM_RUN, so the timing starts with a running worker, not with its start-up.
    const parked = thread.pause();
    await thread.start();
    await parked;
    const t0 = performance.now();
    thread.resume();
    const reason = await stopped;
    const ms = performance.now() - t0;
    if (reason !== 'hlt') throw new Error(`the guest stopped with ${reason}, not hlt`);
    if (device.writes !== n) throw new Error(`the counting device saw ${device.writes} writes, expected ${n}`);
    return (ms * 1e6) / (n + 1);
  } finally {
    await thread.stop();
    g.close();
  }
}

async function compileC(dir: string): Promise<string> {
  const exe = path.join(dir, 'exit-loop');
  await run('cc', ['-O2', '-Wall', '-o', exe, C_SOURCE]);
  return exe;
}

async function cOnce(exe: string, n: number): Promise<number> {
  const { stdout } = await run(exe, [toHex(exitGuestCode(n)), `0x${EXIT_PORT.toString(16)}`], { timeout: C_TIMEOUT_MS });
  const m = stdout.match(/exits=(\d+) writes=(\d+) total_ns=(\d+)/);
  if (!m) throw new Error(`exit-loop printed "${stdout.trim()}"`);
  if (Number(m[2]) !== n) throw new Error(`exit-loop counted ${m[2]} writes, expected ${n}`);
  return Number(m[3]) / Number(m[1]);
}

export async function benchExits(n: number, runs: number, log: (line: string) => void): Promise<ExitsResult> {
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kqubes-bench-'));
  try {
    const exe = await compileC(dir);
    log(`exits: compiled ${path.relative(REPO_ROOT, C_SOURCE)} with cc -O2`);
    const qvmmNsPerExit: number[] = [];
    const cNsPerExit: number[] = [];
    for (let i = 0; i < runs; i++) {
      const q = await qvmmOnce(n);
      qvmmNsPerExit.push(q);
      log(`exits: qvmm ${(q / 1000).toFixed(2)} us/exit (${n} outs, ${((q * (n + 1)) / 1e9).toFixed(2)} s)`);
      const c = await cOnce(exe, n);
      cNsPerExit.push(c);
      log(`exits: C    ${(c / 1000).toFixed(2)} us/exit (${n} outs, ${((c * (n + 1)) / 1e9).toFixed(2)} s)`);
    }
    const q = median(qvmmNsPerExit);
    const c = median(cNsPerExit);
    const seconds = (performance.now() - started) / 1000;
    log(`exits: medians qvmm ${(q / 1000).toFixed(2)} us, C ${(c / 1000).toFixed(2)} us, ratio ${(q / c).toFixed(3)} (goal <= ${EXITS_GOAL}); ${seconds.toFixed(1)} s in all`);
    return { exits: n, qvmmNsPerExit, cNsPerExit, seconds, rows: [row(`PIO exit round trip (${n} outs, median of ${runs})`, 'us', q / 1000, 'C KVM_RUN loop', c / 1000, EXITS_GOAL)] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
