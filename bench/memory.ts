// Memory benchmark: qvmm's own resident memory (VmRSS - RssShmem, the guest RAM memfd excluded) once its guest
// is up, against an idle bare `node` process measured the same way.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { INIT_READY_MARKER } from '../images/test-initramfs.js';
import { killAndWait, spawnUntilMarker } from './marker-process.js';
import { cpuTicks, readProcMemory, type ProcMemory } from './proc-memory.js';
import { row, type SummaryRow } from './summary.js';
import { qvmmCommand, type GuestFiles } from './vm-commands.js';

const BOOT_TIMEOUT_MS = 240_000;
/** Goal: qvmm's own memory at most 1.2x an idle node process's. */
export const MEMORY_GOAL = 1.2;
const IDLE_NODE_SCRIPT = 'setInterval(()=>{},1000)';
const SETTLE_POLL_MS = 500;
const SETTLE_MIN_MS = 1000;
const SETTLE_TIMEOUT_MS = 120_000;

export interface MemoryResult {
  readonly bareNode: ProcMemory;
  readonly qvmm: Record<string, ProcMemory>;
  readonly rows: SummaryRow[];
}

/** A bare node process, measured once it has started up (its CPU time stops growing). */
async function measureBareNode(): Promise<ProcMemory> {
  const child = spawn(process.execPath, ['-e', IDLE_NODE_SCRIPT], { stdio: 'ignore' });
  try {
    const t0 = Date.now();
    let last = -1;
    for (;;) {
      await sleep(SETTLE_POLL_MS);
      if (child.exitCode !== null) throw new Error(`bare node exited (${child.exitCode})`);
      const ticks = cpuTicks(child.pid!);
      if (ticks === last && Date.now() - t0 >= SETTLE_MIN_MS) break;
      if (Date.now() - t0 > SETTLE_TIMEOUT_MS) throw new Error('bare node never settled');
      last = ticks;
    }
    return readProcMemory(child.pid!);
  } finally {
    await killAndWait(child);
  }
}

async function measureQvmm(guest: GuestFiles, vcpus: number): Promise<ProcMemory> {
  const c = qvmmCommand(guest, vcpus);
  const p = await spawnUntilMarker(c.cmd, c.args, INIT_READY_MARKER, BOOT_TIMEOUT_MS);
  try {
    return readProcMemory(p.pid);
  } finally {
    await killAndWait(p.child);
  }
}

const mib = (kib: number): number => kib / 1024;
const show = (m: ProcMemory): string => `VmRSS ${mib(m.vmRssKiB).toFixed(1)} MiB - RssShmem ${mib(m.rssShmemKiB).toFixed(1)} MiB = ${mib(m.ownKiB).toFixed(1)} MiB`;

/** `guest` must keep running after its marker (its /test.sh sleeps). */
export async function benchMemory(guest: GuestFiles, log: (line: string) => void): Promise<MemoryResult> {
  const bareNode = await measureBareNode();
  log(`memory: bare node      ${show(bareNode)}`);
  const qvmm: Record<string, ProcMemory> = {};
  const rows: SummaryRow[] = [];
  for (const vcpus of [1, 2]) {
    const m = await measureQvmm(guest, vcpus);
    qvmm[`${vcpus}vcpu`] = m;
    log(`memory: qvmm ${vcpus} vCPU(s) ${show(m)}; ratio to bare node ${(m.ownKiB / bareNode.ownKiB).toFixed(3)} (goal <= ${MEMORY_GOAL})`);
    rows.push(row(`own RSS at ${INIT_READY_MARKER}, ${vcpus} vCPU, 256 MiB`, 'MiB', mib(m.ownKiB), 'idle node', mib(bareNode.ownKiB), MEMORY_GOAL));
  }
  return { bareNode, qvmm, rows };
}
