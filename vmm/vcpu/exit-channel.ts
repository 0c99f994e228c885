// The per-vCPU control block between a vCPU worker and the main thread (pause and stop requests), and the
// messages and start-up data that pass between them. Device accesses travel through the VM's ExitRing.

/** Int32 slots of the control block (a SharedArrayBuffer). */
export const SLOT = {
  /** 1 while the main thread wants the vCPU parked */
  PAUSE: 0,
  /** 1 once the main thread wants the vCPU thread to end */
  STOP: 1,
  /** 1 while the worker is parked (it waits on PAUSE) */
  PARKED: 2,
} as const;

const CONTROL_SLOTS = 4;

export interface ExitChannel {
  readonly sab: SharedArrayBuffer;
  readonly ctl: Int32Array;
}

export function createExitChannel(sab = new SharedArrayBuffer(CONTROL_SLOTS * 4)): ExitChannel {
  return { sab, ctl: new Int32Array(sab, 0, CONTROL_SLOTS) };
}

/** Messages a vCPU worker posts to the main thread. */
export type VcpuMessage =
  | { readonly type: 'started'; readonly vcpuId: number; readonly tid: number }
  /** accesses are waiting in the exit ring */
  | { readonly type: 'doorbell' }
  | { readonly type: 'parked'; readonly vcpuId: number }
  /** the guest asked to end the VM (reset, shutdown, triple fault) */
  | { readonly type: 'guest-stop'; readonly vcpuId: number; readonly reason: string }
  /** KVM could not go on with this vCPU */
  | { readonly type: 'error'; readonly vcpuId: number; readonly message: string }
  | { readonly type: 'stopped'; readonly vcpuId: number };

/** What the main thread hands a vCPU worker through workerData. */
export interface VcpuWorkerData {
  /**
   * [base, len] of every PIO range that has a device. The bus layout is fixed before the vCPUs start, so the
   * worker answers accesses outside these ranges itself (reads all-ones, writes dropped), exactly as the bus
   * would, without a round trip: Linux probes absent ports (PCI config, POST delay) thousands of times.
   */
  readonly pioRanges: readonly (readonly [number, number])[];
  readonly vcpuId: number;
  readonly vcpuFd: number;
  readonly runMmapSize: number;
  readonly kickSignal: number;
  /** this vCPU's control block */
  readonly channel: SharedArrayBuffer;
  /** the VM's exit ring (shared by all its vCPUs) */
  readonly ring: SharedArrayBuffer;
}
