// VcpuExit: one variant per KVM exit reason, decoded from a kvm_run view (kvm-ioctls' VcpuExit).
import { KVM_EXIT } from './constants.js';
import type { KvmRun } from './run.js';

export type VcpuExit =
  /** KVM_RUN returned EINTR (a signal or immediate_exit), or KVM_EXIT_INTR */
  | { readonly reason: 'intr' }
  /** `out`: data holds count * size bytes the guest wrote (a view into kvm_run) */
  | { readonly reason: 'io-out'; readonly port: number; readonly size: number; readonly count: number; readonly data: Uint8Array }
  /** `in`: fill data (a view into kvm_run, count * size bytes) before the next run */
  | { readonly reason: 'io-in'; readonly port: number; readonly size: number; readonly count: number; readonly data: Uint8Array }
  /** MMIO write: data holds len bytes (a view into kvm_run) */
  | { readonly reason: 'mmio-write'; readonly addr: number; readonly data: Uint8Array }
  /** MMIO read: fill data (a view into kvm_run, len bytes) before the next run */
  | { readonly reason: 'mmio-read'; readonly addr: number; readonly data: Uint8Array }
  | { readonly reason: 'hlt' }
  | { readonly reason: 'shutdown' }
  | { readonly reason: 'system-event'; readonly type: number; readonly data: bigint[] }
  | { readonly reason: 'fail-entry'; readonly hardwareEntryFailureReason: bigint; readonly cpu: number }
  | { readonly reason: 'internal-error'; readonly suberror: number; readonly data: bigint[] }
  | { readonly reason: 'unknown'; readonly hardwareExitReason: bigint }
  /** any other exit reason, by number */
  | { readonly reason: 'other'; readonly exitReason: number };

/** Decodes the exit the last KVM_RUN (which returned 0) left in `run`. */
export function decodeExit(run: KvmRun): VcpuExit {
  switch (run.exitReason) {
    case KVM_EXIT.IO: {
      const common = { port: run.ioPort, size: run.ioSize, count: run.ioCount, data: run.ioDataAll() };
      return run.ioDirectionOut ? { reason: 'io-out', ...common } : { reason: 'io-in', ...common };
    }
    case KVM_EXIT.MMIO:
      return { reason: run.mmioIsWrite ? 'mmio-write' : 'mmio-read', addr: run.mmioPhysAddr, data: run.mmioData() };
    case KVM_EXIT.HLT:
      return { reason: 'hlt' };
    case KVM_EXIT.SHUTDOWN:
      return { reason: 'shutdown' };
    case KVM_EXIT.INTR:
      return { reason: 'intr' };
    case KVM_EXIT.SYSTEM_EVENT:
      return { reason: 'system-event', type: run.systemEventType, data: run.systemEventData };
    case KVM_EXIT.FAIL_ENTRY:
      return { reason: 'fail-entry', hardwareEntryFailureReason: run.failEntryReason, cpu: run.failEntryCpu };
    case KVM_EXIT.INTERNAL_ERROR:
      return { reason: 'internal-error', suberror: run.internalSuberror, data: run.internalData };
    case KVM_EXIT.UNKNOWN:
      return { reason: 'unknown', hardwareExitReason: run.hwExitReason };
    default:
      return { reason: 'other', exitReason: run.exitReason };
  }
}
