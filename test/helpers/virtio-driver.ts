// A test-side virtio-mmio driver: drives a transport the way Linux does and builds split virtqueues in guest memory.
import type { BusDevice } from '../../vmm/bus/bus-device.js';
import type { GuestMemory } from '../../vmm/memory/guest-memory.js';
import {
  VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DRIVER, VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FEATURES_OK,
  VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_SIZE,
} from '../../vmm/devices/virtio/constants.js';
import { MmioReg } from '../../vmm/devices/virtio/mmio/transport.js';

/** A bump allocator over a guest-physical range the test reserves for the driver. */
export class GuestAllocator {
  private next: number;
  constructor(readonly base: number, readonly size: number) { this.next = base; }
  alloc(len: number, align = 16): number {
    const at = Math.ceil(this.next / align) * align;
    if (at + len > this.base + this.size) throw new Error(`test allocator: ${len} bytes do not fit`);
    this.next = at + len;
    return at;
  }
}

/** One buffer of a chain: device-readable bytes, or a device-writable buffer of `writable` bytes. */
export type ChainPart = { readable: Uint8Array } | { writable: number };

/** A raw descriptor as the driver writes it (any values, for hostile tests). */
export interface RawDescriptor { addr: number | bigint; len: number; flags: number; next: number }

export interface SubmittedChain {
  readonly head: number;
  /** descriptor-table indices used (the indirect table is not listed) */
  readonly indices: readonly number[];
  /** the buffers, in chain order */
  readonly buffers: readonly { addr: number; len: number; writable: boolean }[];
}

export interface UsedElement { readonly id: number; readonly len: number }

const u16 = (n: number): number => n & 0xffff;

/** One split virtqueue as the driver sees it. */
export class DriverQueue {
  private freeList: number[];
  private readonly inFlight = new Map<number, number[]>();
  private availIdxShadow = 0;
  private lastUsed = 0;

  constructor(
    private readonly driver: VirtioTestDriver,
    readonly index: number,
    readonly size: number,
    readonly desc: number,
    readonly avail: number,
    readonly used: number,
  ) {
    this.freeList = Array.from({ length: size }, (_, i) => i);
  }

  get mem(): GuestMemory { return this.driver.mem; }

  writeDescriptor(i: number, d: RawDescriptor, table = this.desc): void {
    const at = table + VIRTQ_DESC_SIZE * i;
    this.mem.writeU64(at, BigInt(d.addr));
    this.mem.writeU32(at + 8, d.len >>> 0);
    this.mem.writeU16(at + 12, d.flags);
    this.mem.writeU16(at + 14, d.next);
  }

  /** Puts `head` in the next avail slot, then publishes it by advancing avail idx. */
  pushAvail(head: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * (this.availIdxShadow % this.size), head);
    this.setAvailIdx(this.availIdxShadow + 1);
  }

  /** Writes avail idx directly (hostile tests: jump it arbitrarily). */
  setAvailIdx(idx: number): void {
    this.availIdxShadow = u16(idx);
    this.mem.writeU16(this.avail + 2, this.availIdxShadow);
  }

  get availIdx(): number { return this.availIdxShadow; }

  /** Allocates buffers, fills the readable ones, links descriptors and makes the chain available (no kick). */
  addChain(parts: readonly ChainPart[]): SubmittedChain {
    const buffers = this.allocBuffers(parts);
    if (buffers.length > this.freeList.length) throw new Error(`queue ${this.index}: no free descriptors`);
    const indices = this.freeList.splice(0, buffers.length);
    buffers.forEach((b, k) => this.writeDescriptor(indices[k]!, {
      addr: b.addr, len: b.len,
      flags: (b.writable ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < buffers.length ? VIRTQ_DESC_F_NEXT : 0),
      next: k + 1 < buffers.length ? indices[k + 1]! : 0,
    }));
    return this.publish(indices, buffers);
  }

  /** Same as addChain, through one INDIRECT descriptor pointing at a table in the arena. */
  addIndirectChain(parts: readonly ChainPart[]): SubmittedChain {
    const buffers = this.allocBuffers(parts);
    const table = this.driver.alloc.alloc(VIRTQ_DESC_SIZE * buffers.length, VIRTQ_DESC_SIZE);
    buffers.forEach((b, k) => this.writeDescriptor(k, {
      addr: b.addr, len: b.len,
      flags: (b.writable ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < buffers.length ? VIRTQ_DESC_F_NEXT : 0),
      next: k + 1 < buffers.length ? k + 1 : 0,
    }, table));
    const indices = this.freeList.splice(0, 1);
    if (indices.length !== 1) throw new Error(`queue ${this.index}: no free descriptors`);
    this.writeDescriptor(indices[0]!, { addr: table, len: VIRTQ_DESC_SIZE * buffers.length, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
    return this.publish(indices, buffers);
  }

  /** Notifies the device through the QueueNotify register. */
  kick(): void {
    this.driver.writeReg(MmioReg.QUEUE_NOTIFY, this.index);
  }

  get usedIdx(): number { return this.mem.readU16(this.used + 2); }

  /** Used elements published since the last call (their descriptors return to the free list). */
  takeUsed(): UsedElement[] {
    const out: UsedElement[] = [];
    const idx = this.usedIdx;
    while (this.lastUsed !== idx) {
      const at = this.used + 4 + 8 * (this.lastUsed % this.size);
      const e = { id: this.mem.readU32(at), len: this.mem.readU32(at + 4) };
      out.push(e);
      const freed = this.inFlight.get(e.id);
      if (freed) { this.freeList.push(...freed); this.inFlight.delete(e.id); }
      this.lastUsed = u16(this.lastUsed + 1);
    }
    return out;
  }

  /** The first `len` bytes the device wrote into the chain's writable buffers. */
  readWritten(chain: SubmittedChain, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let at = 0;
    for (const b of chain.buffers) {
      if (!b.writable || at >= len) continue;
      const take = Math.min(b.len, len - at);
      out.set(this.mem.readCopy(b.addr, take), at);
      at += take;
    }
    return out.subarray(0, at);
  }

  private allocBuffers(parts: readonly ChainPart[]): { addr: number; len: number; writable: boolean }[] {
    return parts.map((p) => {
      if ('readable' in p) {
        const addr = this.driver.alloc.alloc(Math.max(1, p.readable.length));
        this.mem.write(addr, p.readable);
        return { addr, len: p.readable.length, writable: false };
      }
      const addr = this.driver.alloc.alloc(Math.max(1, p.writable));
      this.mem.fill(addr, p.writable, 0);
      return { addr, len: p.writable, writable: true };
    });
  }

  private publish(indices: number[], buffers: SubmittedChain['buffers']): SubmittedChain {
    const head = indices[0]!;
    this.inFlight.set(head, indices);
    this.pushAvail(head);
    return { head, indices, buffers };
  }
}

export interface InitOptions {
  /** features the driver wants; it accepts (offered & wanted). Default: everything offered */
  features?: bigint;
  /** queue sizes to set up, one per queue (default: QueueNumMax of every queue the device has) */
  queueSizes?: readonly number[];
}

/** Drives one virtio-mmio transport exactly like Linux's virtio_mmio + virtio core. */
export class VirtioTestDriver {
  readonly alloc: GuestAllocator;
  readonly queues: DriverQueue[] = [];

  constructor(readonly bus: BusDevice, readonly mem: GuestMemory, arena: { base: number; size: number }) {
    this.alloc = new GuestAllocator(arena.base, arena.size);
  }

  readReg(offset: number): number {
    const d = new Uint8Array(4);
    this.bus.read(offset, d);
    return new DataView(d.buffer).getUint32(0, true);
  }

  writeReg(offset: number, value: number): void {
    const d = new Uint8Array(4);
    new DataView(d.buffer).setUint32(0, value >>> 0, true);
    this.bus.write(offset, d);
  }

  get status(): number { return this.readReg(MmioReg.STATUS); }
  set status(v: number) { this.writeReg(MmioReg.STATUS, v); }

  /** Adds status bits the way Linux's virtio_add_status does (read, or, write). */
  addStatus(bits: number): void { this.status = this.status | bits; }

  deviceFeatures(): bigint {
    this.writeReg(MmioReg.DEVICE_FEATURES_SEL, 1);
    const hi = BigInt(this.readReg(MmioReg.DEVICE_FEATURES));
    this.writeReg(MmioReg.DEVICE_FEATURES_SEL, 0);
    return (hi << 32n) | BigInt(this.readReg(MmioReg.DEVICE_FEATURES));
  }

  writeDriverFeatures(features: bigint): void {
    this.writeReg(MmioReg.DRIVER_FEATURES_SEL, 1);
    this.writeReg(MmioReg.DRIVER_FEATURES, Number((features >> 32n) & 0xffffffffn));
    this.writeReg(MmioReg.DRIVER_FEATURES_SEL, 0);
    this.writeReg(MmioReg.DRIVER_FEATURES, Number(features & 0xffffffffn));
  }

  /** Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (checked by reading status back). Returns the accepted features. */
  negotiate(wanted?: bigint): bigint {
    this.status = 0;
    this.queues.length = 0;
    this.addStatus(VIRTIO_STATUS_ACKNOWLEDGE);
    this.addStatus(VIRTIO_STATUS_DRIVER);
    const features = this.deviceFeatures() & (wanted ?? ~0n);
    this.writeDriverFeatures(features);
    this.addStatus(VIRTIO_STATUS_FEATURES_OK);
    if (!(this.status & VIRTIO_STATUS_FEATURES_OK)) throw new Error('device refused FEATURES_OK');
    return features;
  }

  /** Sets up queue `index` (Linux's vm_setup_vq): rings from the arena unless given (hostile tests place them anywhere). */
  setupQueue(index: number, size?: number, at?: { desc: number; avail: number; used: number }): DriverQueue {
    this.writeReg(MmioReg.QUEUE_SEL, index);
    if (this.readReg(MmioReg.QUEUE_READY) !== 0) throw new Error(`queue ${index} already ready`);
    const max = this.readReg(MmioReg.QUEUE_NUM_MAX);
    if (max === 0) throw new Error(`queue ${index} does not exist`);
    const n = size ?? max;
    const where = at ?? {
      desc: this.alloc.alloc(VIRTQ_DESC_SIZE * n, 16),
      avail: this.alloc.alloc(6 + 2 * n, 2),
      used: this.alloc.alloc(6 + 8 * n, 4),
    };
    if (!at) {
      this.mem.fill(where.desc, VIRTQ_DESC_SIZE * n, 0);
      this.mem.fill(where.avail, 6 + 2 * n, 0);
      this.mem.fill(where.used, 6 + 8 * n, 0);
    }
    this.writeReg(MmioReg.QUEUE_NUM, n);
    const split = (v: number): [number, number] => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
    const regs: [number, number, number][] = [
      [MmioReg.QUEUE_DESC_LOW, MmioReg.QUEUE_DESC_HIGH, where.desc],
      [MmioReg.QUEUE_DRIVER_LOW, MmioReg.QUEUE_DRIVER_HIGH, where.avail],
      [MmioReg.QUEUE_DEVICE_LOW, MmioReg.QUEUE_DEVICE_HIGH, where.used],
    ];
    for (const [lo, hi, v] of regs) {
      const [l, h] = split(v);
      this.writeReg(lo, l);
      this.writeReg(hi, h);
    }
    this.writeReg(MmioReg.QUEUE_READY, 1);
    const q = new DriverQueue(this, index, n, where.desc, where.avail, where.used);
    this.queues[index] = q;
    return q;
  }

  driverOk(): void {
    this.addStatus(VIRTIO_STATUS_DRIVER_OK);
  }

  /** The whole Linux probe: negotiate, set up the queues, DRIVER_OK. Returns the queues. */
  init(opts: InitOptions = {}): DriverQueue[] {
    this.negotiate(opts.features);
    const sizes = opts.queueSizes ?? this.maxQueueSizes();
    sizes.forEach((n, i) => this.setupQueue(i, n));
    this.driverOk();
    return this.queues;
  }

  /** QueueNumMax of each queue, stopping at the first that reads 0. */
  maxQueueSizes(): number[] {
    const out: number[] = [];
    for (let i = 0; ; i++) {
      this.writeReg(MmioReg.QUEUE_SEL, i);
      const max = this.readReg(MmioReg.QUEUE_NUM_MAX);
      if (max === 0) return out;
      out.push(max);
    }
  }

  interruptStatus(): number { return this.readReg(MmioReg.INTERRUPT_STATUS); }
  ackInterrupt(bits: number): void { this.writeReg(MmioReg.INTERRUPT_ACK, bits); }

  /** Reads `len` (1, 2 or 4) bytes of device config space as a little-endian number. */
  readConfig(offset: number, len: 1 | 2 | 4): number {
    const d = new Uint8Array(len);
    this.bus.read(MmioReg.CONFIG + offset, d);
    return d.reduceRight((v, b) => v * 256 + b, 0);
  }

  /** Reads a u64 from config space as Linux does: two 4-byte reads. */
  readConfigU64(offset: number): bigint {
    return BigInt(this.readConfig(offset, 4)) | (BigInt(this.readConfig(offset + 4, 4)) << 32n);
  }
}
