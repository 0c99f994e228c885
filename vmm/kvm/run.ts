// A view of a vCPU's mmapped struct kvm_run: exit reason, the exit's union fields, io/mmio data, immediate_exit.
import { KVM_EXIT_IO_OUT } from './constants.js';

/** Offsets inside struct kvm_run (x86-64, <linux/kvm.h>). */
export const KVM_RUN_OFFSET = {
  requestInterruptWindow: 0,
  immediateExit: 1,
  exitReason: 8,
  readyForInterruptInjection: 12,
  ifFlag: 13,
  flags: 14,
  cr8: 16,
  apicBase: 24,
  /** the exit union starts here */
  exit: 32,
  // io
  ioDirection: 32,
  ioSize: 33,
  ioPort: 34,
  ioCount: 36,
  ioDataOffset: 40,
  // mmio
  mmioPhysAddr: 32,
  mmioData: 40,
  mmioLen: 48,
  mmioIsWrite: 52,
  // fail_entry
  failEntryReason: 32,
  failEntryCpu: 40,
  // hw
  hwExitReason: 32,
  // internal
  internalSuberror: 32,
  internalNdata: 36,
  internalData: 40,
  // system_event
  systemEventType: 32,
  systemEventNdata: 36,
  systemEventData: 40,
} as const;

/** The fixed part of struct kvm_run a mapping must hold (its sizeof). */
export const KVM_RUN_SIZE = 2352;
/** kvm_run.mmio.data is u8[8]. */
export const KVM_RUN_MMIO_DATA_MAX = 8;
/** kvm_run.internal.data and system_event.data hold at most 16 u64s. */
export const KVM_RUN_MAX_NDATA = 16;

export class KvmRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvmRunError';
  }
}

/**
 * Reads and writes one vCPU's kvm_run page in place. Every thread that needs it maps the vCPU fd
 * itself (native.mmap(size, PROT_READ|PROT_WRITE, MAP_SHARED, vcpuFd, 0n)) and wraps the buffer.
 */
export class KvmRun {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;

  constructor(readonly buffer: ArrayBuffer) {
    if (buffer.byteLength < KVM_RUN_SIZE) {
      throw new KvmRunError(`kvm_run mapping of ${buffer.byteLength} bytes is smaller than struct kvm_run (${KVM_RUN_SIZE})`);
    }
    this.bytes = new Uint8Array(buffer);
    this.dv = new DataView(buffer);
  }

  get exitReason(): number {
    return this.dv.getUint32(KVM_RUN_OFFSET.exitReason, true);
  }

  /** Set to 1 before a kick: the next (or current, once signalled) KVM_RUN returns EINTR at once. */
  get immediateExit(): number {
    return this.dv.getUint8(KVM_RUN_OFFSET.immediateExit);
  }
  set immediateExit(v: number) {
    this.dv.setUint8(KVM_RUN_OFFSET.immediateExit, v ? 1 : 0);
  }

  get requestInterruptWindow(): number {
    return this.dv.getUint8(KVM_RUN_OFFSET.requestInterruptWindow);
  }
  set requestInterruptWindow(v: number) {
    this.dv.setUint8(KVM_RUN_OFFSET.requestInterruptWindow, v ? 1 : 0);
  }

  get readyForInterruptInjection(): number {
    return this.dv.getUint8(KVM_RUN_OFFSET.readyForInterruptInjection);
  }
  get ifFlag(): number {
    return this.dv.getUint8(KVM_RUN_OFFSET.ifFlag);
  }
  get cr8(): bigint {
    return this.dv.getBigUint64(KVM_RUN_OFFSET.cr8, true);
  }
  get apicBase(): bigint {
    return this.dv.getBigUint64(KVM_RUN_OFFSET.apicBase, true);
  }

  // --- KVM_EXIT_IO ---

  get ioDirection(): number {
    return this.dv.getUint8(KVM_RUN_OFFSET.ioDirection);
  }
  /** True for `out` (guest writes), false for `in`. */
  get ioDirectionOut(): boolean {
    return this.ioDirection === KVM_EXIT_IO_OUT;
  }
  get ioSize(): number {
    return this.dv.getUint8(KVM_RUN_OFFSET.ioSize);
  }
  get ioPort(): number {
    return this.dv.getUint16(KVM_RUN_OFFSET.ioPort, true);
  }
  get ioCount(): number {
    return this.dv.getUint32(KVM_RUN_OFFSET.ioCount, true);
  }
  get ioDataOffset(): number {
    // data_offset is a u64; a value past 2^53 cannot lie inside the mapping, and ioDataAll rejects it.
    return Number(this.dv.getBigUint64(KVM_RUN_OFFSET.ioDataOffset, true));
  }

  /** A view (no copy) of all count * size io bytes; writing it answers an `in`. Bounds-checked against the mapping. */
  ioDataAll(): Uint8Array {
    const size = this.ioSize;
    if (size !== 1 && size !== 2 && size !== 4) throw new KvmRunError(`KVM_EXIT_IO with invalid size ${size}`);
    const len = size * this.ioCount;
    const off = this.ioDataOffset;
    if (off < KVM_RUN_OFFSET.exit || off > this.bytes.length || len > this.bytes.length - off) {
      throw new KvmRunError(`KVM_EXIT_IO data [${off}, +${len}) outside the ${this.bytes.length}-byte kvm_run mapping`);
    }
    return this.bytes.subarray(off, off + len);
  }

  /** A view of the `index`-th value (size bytes) of a KVM_EXIT_IO (index > 0 only for `rep ins/outs`). */
  ioData(index = 0): Uint8Array {
    const all = this.ioDataAll();
    const size = this.ioSize;
    if (!Number.isInteger(index) || index < 0 || index >= this.ioCount) {
      throw new KvmRunError(`KVM_EXIT_IO value index ${index} outside count ${this.ioCount}`);
    }
    return all.subarray(index * size, (index + 1) * size);
  }

  // --- KVM_EXIT_MMIO ---

  /** Guest-physical address of the access (exact: x86 physical addresses are below 2^52). */
  get mmioPhysAddr(): number {
    return Number(this.dv.getBigUint64(KVM_RUN_OFFSET.mmioPhysAddr, true));
  }
  get mmioLen(): number {
    return this.dv.getUint32(KVM_RUN_OFFSET.mmioLen, true);
  }
  get mmioIsWrite(): boolean {
    return this.dv.getUint8(KVM_RUN_OFFSET.mmioIsWrite) !== 0;
  }
  /** A view (no copy) of the len data bytes; writing it answers a read. */
  mmioData(): Uint8Array {
    const len = this.mmioLen;
    if (len > KVM_RUN_MMIO_DATA_MAX) throw new KvmRunError(`KVM_EXIT_MMIO with invalid len ${len}`);
    return this.bytes.subarray(KVM_RUN_OFFSET.mmioData, KVM_RUN_OFFSET.mmioData + len);
  }

  // --- other exits ---

  get failEntryReason(): bigint {
    return this.dv.getBigUint64(KVM_RUN_OFFSET.failEntryReason, true);
  }
  get failEntryCpu(): number {
    return this.dv.getUint32(KVM_RUN_OFFSET.failEntryCpu, true);
  }
  get hwExitReason(): bigint {
    return this.dv.getBigUint64(KVM_RUN_OFFSET.hwExitReason, true);
  }
  get internalSuberror(): number {
    return this.dv.getUint32(KVM_RUN_OFFSET.internalSuberror, true);
  }
  /** internal.data[0..ndata) (ndata clamped to the 16 slots of the struct). */
  get internalData(): bigint[] {
    return this.u64s(KVM_RUN_OFFSET.internalNdata, KVM_RUN_OFFSET.internalData);
  }
  get systemEventType(): number {
    return this.dv.getUint32(KVM_RUN_OFFSET.systemEventType, true);
  }
  get systemEventData(): bigint[] {
    return this.u64s(KVM_RUN_OFFSET.systemEventNdata, KVM_RUN_OFFSET.systemEventData);
  }

  private u64s(ndataOffset: number, dataOffset: number): bigint[] {
    const n = Math.min(this.dv.getUint32(ndataOffset, true), KVM_RUN_MAX_NDATA);
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.dv.getBigUint64(dataOffset + i * 8, true));
    return out;
  }
}
