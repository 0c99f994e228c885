// The VM-wide ring of PIO/MMIO accesses that need a device on the main thread, shared by every vCPU worker
// (producers) and the main thread (the one consumer). Writes are posted: the vCPU runs on while the main thread
// catches up. A read waits until it and everything queued before it is served. One ring for all vCPUs keeps the
// order in which the guest's CPUs issued their accesses (a driver acks an interrupt on one CPU and kicks a queue
// on another; served out of order, the ack would swallow the new interrupt).

/** Int32 slots of the ring's control block. */
const HEAD = 0; // next index to reserve (wrapping int32)
const TAIL = 1; // next index the main thread serves; producers wait on it for answers and room
const DOORBELL = 2; // 1 while a doorbell message is on its way to the main thread
const CONTROL_SLOTS = 4;

/** Entries in the ring (a power of two): how far posted writes may run ahead of the main thread. */
export const RING_ENTRIES = 256;
const ENTRY_WORDS = 4; // access, address low, address high, size
export const ENTRY_DATA = 8;

export const ACCESS = { PIO_READ: 1, PIO_WRITE: 2, MMIO_READ: 3, MMIO_WRITE: 4 } as const;

export function isWriteAccess(access: number): boolean {
  return access === ACCESS.PIO_WRITE || access === ACCESS.MMIO_WRITE;
}

const SEQ_OFFSET = CONTROL_SLOTS * 4;
const META_OFFSET = SEQ_OFFSET + RING_ENTRIES * 4;
const DATA_OFFSET = META_OFFSET + RING_ENTRIES * ENTRY_WORDS * 4;
const RING_BYTES = DATA_OFFSET + RING_ENTRIES * ENTRY_DATA;

/** Serves one access: fills `bytes` for a read. */
export type ServeAccess = (access: number, addr: number, bytes: Uint8Array) => void;

export class ExitRing {
  private readonly ctl: Int32Array;
  /** per entry: (index + 1) once its producer has published it */
  private readonly seq: Int32Array;
  private readonly meta: Int32Array;
  private readonly data: Uint8Array;

  constructor(readonly sab = new SharedArrayBuffer(RING_BYTES)) {
    this.ctl = new Int32Array(sab, 0, CONTROL_SLOTS);
    this.seq = new Int32Array(sab, SEQ_OFFSET, RING_ENTRIES);
    this.meta = new Int32Array(sab, META_OFFSET, RING_ENTRIES * ENTRY_WORDS);
    this.data = new Uint8Array(sab, DATA_OFFSET, RING_ENTRIES * ENTRY_DATA);
  }

  /**
   * Producer side (a vCPU worker): queues one access. `ring` is called when the main thread must be told
   * (at most one doorbell is in flight). Returns once a write is queued, or once a read is answered in `bytes`.
   */
  submit(access: number, addr: number, bytes: Uint8Array, ring: () => void): void {
    const { ctl } = this;
    const idx = Atomics.add(ctl, HEAD, 1);
    for (;;) {
      const tail = Atomics.load(ctl, TAIL);
      if (((idx - tail) | 0) < RING_ENTRIES) break;
      Atomics.wait(ctl, TAIL, tail);
    }
    const i = idx & (RING_ENTRIES - 1);
    const m = i * ENTRY_WORDS;
    this.meta[m] = access;
    this.meta[m + 1] = addr >>> 0;
    this.meta[m + 2] = Math.floor(addr / 0x1_0000_0000);
    this.meta[m + 3] = bytes.length;
    const write = isWriteAccess(access);
    if (write) this.data.set(bytes, i * ENTRY_DATA);
    Atomics.store(this.seq, i, (idx + 1) | 0);
    // The main thread clears the flag before it drains, so an access published after that rings again.
    if (Atomics.compareExchange(ctl, DOORBELL, 0, 1) === 0) ring();
    if (write) return;
    const done = (idx + 1) | 0;
    for (;;) {
      const tail = Atomics.load(ctl, TAIL);
      if (((tail - done) | 0) >= 0) break;
      Atomics.wait(ctl, TAIL, tail);
    }
    bytes.set(this.data.subarray(i * ENTRY_DATA, i * ENTRY_DATA + bytes.length));
  }

  /** Consumer side (the main thread): serves every published access in order, then wakes waiting producers. */
  drain(serve: ServeAccess): void {
    const { ctl } = this;
    Atomics.store(ctl, DOORBELL, 0);
    let tail = Atomics.load(ctl, TAIL);
    for (;;) {
      const i = tail & (RING_ENTRIES - 1);
      // Reserved but not yet published: its producer rings when it publishes.
      if (Atomics.load(this.seq, i) !== ((tail + 1) | 0)) break;
      const m = i * ENTRY_WORDS;
      const access = this.meta[m]!;
      const addr = (this.meta[m + 2]! >>> 0) * 0x1_0000_0000 + (this.meta[m + 1]! >>> 0);
      const size = Math.min(Math.max(this.meta[m + 3]!, 0), ENTRY_DATA);
      serve(access, addr, this.data.subarray(i * ENTRY_DATA, i * ENTRY_DATA + size));
      tail = (tail + 1) | 0;
      Atomics.store(ctl, TAIL, tail);
      if (!isWriteAccess(access)) Atomics.notify(ctl, TAIL);
    }
    Atomics.notify(ctl, TAIL);
  }
}
