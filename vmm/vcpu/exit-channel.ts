// The shared-memory mailbox between one vCPU worker and the main thread: exits that need a device on
// the main thread, and the pause/stop requests that go the other way.

/** Int32 slots of the control block (a SharedArrayBuffer). */
export const SLOT = {
  /** mailbox state: IDLE, REQUEST (worker waits), RESPONSE (main answered) */
  MAILBOX: 0,
  /** one of ACCESS.* */
  ACCESS: 1,
  /** address, low and high 32 bits (PIO port or MMIO guest-physical address) */
  ADDR_LO: 2,
  ADDR_HI: 3,
  /** access width in bytes (1, 2, 4, 8) */
  SIZE: 4,
  /** 1 while the main thread wants the vCPU parked */
  PAUSE: 5,
  /** 1 once the main thread wants the vCPU thread to end */
  STOP: 6,
  /** 1 while the worker is parked (it waits on PAUSE) */
  PARKED: 7,
} as const;

export const MAILBOX = { IDLE: 0, REQUEST: 1, RESPONSE: 2 } as const;
export const ACCESS = { PIO_READ: 1, PIO_WRITE: 2, MMIO_READ: 3, MMIO_WRITE: 4 } as const;

const INT32_SLOTS = 16;
/** byte offset of the 8-byte data area that carries the access's value both ways */
export const DATA_OFFSET = INT32_SLOTS * 4;
export const CHANNEL_BYTES = DATA_OFFSET + 8;

export interface ExitChannel {
  readonly sab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  readonly data: Uint8Array;
}

export function createExitChannel(sab = new SharedArrayBuffer(CHANNEL_BYTES)): ExitChannel {
  return { sab, ctl: new Int32Array(sab, 0, INT32_SLOTS), data: new Uint8Array(sab, DATA_OFFSET, 8) };
}

/** Messages a vCPU worker posts to the main thread. */
export type VcpuMessage =
  | { readonly type: 'started'; readonly vcpuId: number; readonly tid: number }
  /** an exit is waiting in the mailbox */
  | { readonly type: 'exit' }
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
  readonly channel: SharedArrayBuffer;
}
