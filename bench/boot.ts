// Boot benchmark: time from process start to the guest init's ready marker, qvmm against QEMU microvm (KVM),
// runs alternating so that both see the same machine noise.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { INIT_READY_MARKER } from '../images/test-initramfs.js';
import { killAndWait, spawnUntilMarker } from './marker-process.js';
import { median, row, type SummaryRow } from './summary.js';
import { qemuMicrovmCommand, qvmmCommand, type GuestFiles } from './vm-commands.js';

/** Boots inside the emulated KVM host take 15-40 s; leave room for a loaded machine. */
const BOOT_TIMEOUT_MS = 240_000;
/** Goal: qvmm boots in at most 0.8x QEMU microvm's time. */
export const BOOT_GOAL = 0.8;

export interface BootResult {
  readonly qvmmMs: number[];
  readonly qemuMs: number[];
  readonly rows: SummaryRow[];
}

async function bootOnce(name: string, c: { cmd: string; args: string[] }, log: (line: string) => void): Promise<number> {
  const p = await spawnUntilMarker(c.cmd, c.args, INIT_READY_MARKER, BOOT_TIMEOUT_MS);
  await killAndWait(p.child);
  log(`boot: ${name.padEnd(4)} ${(p.ms / 1000).toFixed(2)} s to ${INIT_READY_MARKER}`);
  return p.ms;
}

/**
 * Reads what both VMMs load before timing them, so that the first run of neither pays for a cold page cache (in
 * the emulated KVM host the files come over 9p): the guest's files, node and qvmm's modules, QEMU's binary.
 */
function warmUp(guest: GuestFiles): void {
  fs.readFileSync(guest.vmlinuz);
  fs.readFileSync(guest.initrd);
  const q = qvmmCommand(guest, 1);
  spawnSync(q.cmd, [q.args[0]!, '--help'], { stdio: 'ignore' });
  spawnSync(qemuMicrovmCommand(guest).cmd, ['--version'], { stdio: 'ignore' });
}

export async function benchBoot(guest: GuestFiles, runs: number, log: (line: string) => void): Promise<BootResult> {
  warmUp(guest);
  const qvmmMs: number[] = [];
  const qemuMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    qvmmMs.push(await bootOnce('qvmm', qvmmCommand(guest, 1), log));
    qemuMs.push(await bootOnce('qemu', qemuMicrovmCommand(guest), log));
  }
  const q = median(qvmmMs);
  const b = median(qemuMs);
  log(`boot: medians qvmm ${(q / 1000).toFixed(2)} s, qemu microvm ${(b / 1000).toFixed(2)} s, ratio ${(q / b).toFixed(3)} (goal <= ${BOOT_GOAL})`);
  return { qvmmMs, qemuMs, rows: [row(`boot to ${INIT_READY_MARKER} (median of ${runs})`, 'ms', q, 'qemu microvm', b, BOOT_GOAL)] };
}
