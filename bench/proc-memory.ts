// Reads a process's own resident memory from /proc/<pid>/status: VmRSS minus RssShmem (shared memory, which for
// qvmm is the guest's RAM memfd), in KiB.
import fs from 'node:fs';

export interface ProcMemory {
  readonly vmRssKiB: number;
  readonly rssShmemKiB: number;
  /** VmRSS - RssShmem */
  readonly ownKiB: number;
}

function field(status: string, name: string, pid: number): number {
  const m = status.match(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm'));
  if (!m) throw new Error(`/proc/${pid}/status has no ${name} line`);
  return Number(m[1]);
}

export function readProcMemory(pid: number): ProcMemory {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const vmRssKiB = field(status, 'VmRSS', pid);
  const rssShmemKiB = field(status, 'RssShmem', pid);
  return { vmRssKiB, rssShmemKiB, ownKiB: vmRssKiB - rssShmemKiB };
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}
