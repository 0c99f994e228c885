// The virtio-mmio (version 2) transport: registers, feature negotiation, queue setup and status around a VirtioDevice.
import type { BusDevice } from '../../../bus/bus-device.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import {
  VIRTIO_F_VERSION_1, VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER, VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FAILED, VIRTIO_STATUS_FEATURES_OK, virtioDeviceName,
} from '../constants.js';
import { Queue } from '../queue.js';
import type { VirtioDevice, VirtioInterrupt } from '../virtio-device.js';

/** Register offsets of the virtio-mmio window (virtio 1.2, 4.2.2). This is their only home. */
export const MmioReg = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** "virt" in little endian */
export const MMIO_MAGIC_VALUE = 0x74726976;
/** version 2 = modern (virtio 1.x) */
export const MMIO_VERSION = 2;
export const MMIO_VENDOR_ID = 0;
/** InterruptStatus bits */
export const MMIO_INT_VRING = 1;
export const MMIO_INT_CONFIG = 2;
/** The size of one device's window, as announced on the kernel command line. */
export const MMIO_WINDOW_SIZE = 0x1000;

const REG_WIDTH = 4;
const U32 = 0xffffffffn;

/** The kernel command-line argument announcing one virtio-mmio device, e.g. "virtio_mmio.device=4K@0xd0000000:5". */
export function mmioCmdlineArg(base: number, size: number, irq: number): string {
  const sz = size % 1024 === 0 ? `${size / 1024}K` : `${size}`;
  return `virtio_mmio.device=${sz}@0x${base.toString(16)}:${irq}`;
}

export class VirtioMmioTransport implements BusDevice {
  /** QueueNotify's offset, for the builder's ioeventfd (a 4-byte write there is routed to notifyQueue()). */
  static readonly NOTIFY_OFFSET = MmioReg.QUEUE_NOTIFY;

  readonly queues: readonly Queue[];
  private readonly name: string;
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private ackedFeatures = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private activated = false;
  private broken = false;

  constructor(
    readonly device: VirtioDevice,
    private readonly mem: GuestMemory,
    private readonly irq: { trigger(): void },
    private readonly log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {
    this.name = virtioDeviceName(device.deviceType);
    this.queues = device.queueMaxSizes.map((n) => new Queue(n));
  }

  /** The interrupt object handed to the device on activation. */
  private readonly interrupt: VirtioInterrupt = {
    signalUsedQueue: () => this.raise(MMIO_INT_VRING),
    signalConfigChange: () => {
      this.configGeneration = (this.configGeneration + 1) >>> 0;
      this.raise(MMIO_INT_CONFIG);
    },
  };

  /** True once the device met a fatal guest error (DEVICE_NEEDS_RESET is set until the driver resets). */
  get isBroken(): boolean { return this.broken; }
  get isActivated(): boolean { return this.activated; }
  get deviceStatus(): number { return this.status; }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset >= MmioReg.CONFIG) {
      if (data.length === 1 || data.length === 2 || data.length === 4) this.device.readConfig(offset - MmioReg.CONFIG, data);
      return;
    }
    if (data.length !== REG_WIDTH || offset % REG_WIDTH !== 0) return;
    new DataView(data.buffer, data.byteOffset, REG_WIDTH).setUint32(0, this.readRegister(offset), true);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset >= MmioReg.CONFIG) {
      if (data.length === 1 || data.length === 2 || data.length === 4) this.device.writeConfig(offset - MmioReg.CONFIG, data);
      return;
    }
    if (data.length !== REG_WIDTH || offset % REG_WIDTH !== 0) return;
    this.writeRegister(offset, new DataView(data.buffer, data.byteOffset, REG_WIDTH).getUint32(0, true));
  }

  /** The driver notified queue `index` (a QueueNotify write, or its ioeventfd). Never throws. */
  notifyQueue(index: number): void {
    if (!this.activated || this.broken) return;
    if (!Number.isInteger(index) || index < 0 || index >= this.queues.length) {
      this.log(`${this.name}: notify for queue ${index}, device has ${this.queues.length}; ignored`);
      return;
    }
    if (!this.queues[index]!.ready) {
      this.log(`${this.name}: notify for queue ${index}, which the driver did not set up; ignored`);
      return;
    }
    try {
      this.device.queueNotify(index);
    } catch (e) {
      this.markBroken(`queue ${index}: ${(e as Error).message}`);
      return;
    }
    if (this.device.broken) this.markBroken(`queue ${index}: device reported a fatal error`);
  }

  private readRegister(offset: number): number {
    switch (offset) {
      case MmioReg.MAGIC_VALUE: return MMIO_MAGIC_VALUE;
      case MmioReg.VERSION: return MMIO_VERSION;
      case MmioReg.DEVICE_ID: return this.device.deviceType;
      case MmioReg.VENDOR_ID: return MMIO_VENDOR_ID;
      case MmioReg.DEVICE_FEATURES: return this.featureWord(this.device.availableFeatures, this.deviceFeaturesSel);
      case MmioReg.QUEUE_NUM_MAX: return this.selectedQueue()?.maxSize ?? 0;
      case MmioReg.QUEUE_READY: return this.selectedQueue()?.ready ? 1 : 0;
      case MmioReg.INTERRUPT_STATUS: return this.interruptStatus;
      case MmioReg.STATUS: return this.status;
      case MmioReg.CONFIG_GENERATION: return this.configGeneration;
      default: return 0;
    }
  }

  private writeRegister(offset: number, value: number): void {
    switch (offset) {
      case MmioReg.DEVICE_FEATURES_SEL: this.deviceFeaturesSel = value; return;
      case MmioReg.DRIVER_FEATURES_SEL: this.driverFeaturesSel = value; return;
      case MmioReg.DRIVER_FEATURES: this.writeDriverFeatures(value); return;
      case MmioReg.QUEUE_SEL: this.queueSel = value; return;
      case MmioReg.QUEUE_NOTIFY: this.notifyQueue(value); return;
      case MmioReg.INTERRUPT_ACK: this.interruptStatus &= ~value; return;
      case MmioReg.STATUS: this.writeStatus(value); return;
      case MmioReg.QUEUE_NUM:
      case MmioReg.QUEUE_READY:
      case MmioReg.QUEUE_DESC_LOW:
      case MmioReg.QUEUE_DESC_HIGH:
      case MmioReg.QUEUE_DRIVER_LOW:
      case MmioReg.QUEUE_DRIVER_HIGH:
      case MmioReg.QUEUE_DEVICE_LOW:
      case MmioReg.QUEUE_DEVICE_HIGH:
        this.writeQueueRegister(offset, value);
        return;
      default:
        return; // read-only or unknown registers ignore writes
    }
  }

  private featureWord(features: bigint, sel: number): number {
    if (sel > 1) return 0;
    return Number((features >> BigInt(32 * sel)) & U32);
  }

  private writeDriverFeatures(value: number): void {
    // features may change only between DRIVER and FEATURES_OK
    if (this.status !== (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)) {
      this.log(`${this.name}: driver features written in status 0x${this.status.toString(16)}; ignored`);
      return;
    }
    if (this.driverFeaturesSel > 1) return;
    const shift = BigInt(32 * this.driverFeaturesSel);
    this.ackedFeatures = (this.ackedFeatures & ~(U32 << shift)) | (BigInt(value >>> 0) << shift);
  }

  private selectedQueue(): Queue | undefined {
    return this.queues[this.queueSel];
  }

  /** Queue registers are writable only after FEATURES_OK and before DRIVER_OK, and only while the queue is not ready. */
  private writeQueueRegister(offset: number, value: number): void {
    const q = this.selectedQueue();
    const s = this.status;
    // Linux's vm_del_vq clears QueueReady after the reset, when queues are already not ready: a no-op, not an error
    if (offset === MmioReg.QUEUE_READY && value === 0 && (!q || !q.ready)) return;
    if (!q || !(s & VIRTIO_STATUS_FEATURES_OK) || s & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FAILED)) {
      this.log(`${this.name}: queue register 0x${offset.toString(16)} written for queue ${this.queueSel} in status 0x${s.toString(16)}; ignored`);
      return;
    }
    if (offset === MmioReg.QUEUE_READY) { q.ready = value === 1; return; }
    if (q.ready) {
      this.log(`${this.name}: queue ${this.queueSel} register 0x${offset.toString(16)} written while the queue is ready; ignored`);
      return;
    }
    const low = (addr: number): number => addr - (addr % 2 ** 32) + value;
    const high = (addr: number): number => value * 2 ** 32 + (addr % 2 ** 32);
    switch (offset) {
      case MmioReg.QUEUE_NUM: q.size = value; return;
      case MmioReg.QUEUE_DESC_LOW: q.descTable = low(q.descTable); return;
      case MmioReg.QUEUE_DESC_HIGH: q.descTable = high(q.descTable); return;
      case MmioReg.QUEUE_DRIVER_LOW: q.availRing = low(q.availRing); return;
      case MmioReg.QUEUE_DRIVER_HIGH: q.availRing = high(q.availRing); return;
      case MmioReg.QUEUE_DEVICE_LOW: q.usedRing = low(q.usedRing); return;
      case MmioReg.QUEUE_DEVICE_HIGH: q.usedRing = high(q.usedRing); return;
    }
  }

  /** The status state machine: 0 resets; otherwise each write may only add the next bit (or FAILED). */
  private writeStatus(value: number): void {
    if (value === 0) { this.reset(); return; }
    const old = this.status;
    if (value & VIRTIO_STATUS_FAILED) { this.status = old | VIRTIO_STATUS_FAILED; return; }
    const added = value & ~old;
    if ((value & old) !== old || (added !== 0 && !this.mayAdd(old, added))) {
      this.log(`${this.name}: status 0x${old.toString(16)} -> 0x${value.toString(16)} is not a valid transition; ignored`);
      return;
    }
    if (added === VIRTIO_STATUS_FEATURES_OK) {
      const unknown = this.ackedFeatures & ~this.device.availableFeatures;
      if (unknown !== 0n || !(this.ackedFeatures & VIRTIO_F_VERSION_1)) {
        this.log(`${this.name}: refusing FEATURES_OK: driver features 0x${this.ackedFeatures.toString(16)} ` +
          (unknown !== 0n ? `include unoffered 0x${unknown.toString(16)}` : 'lack VERSION_1'));
        return;
      }
    }
    this.status = value;
    if (added === VIRTIO_STATUS_DRIVER_OK) this.activate();
  }

  private mayAdd(old: number, added: number): boolean {
    const A = VIRTIO_STATUS_ACKNOWLEDGE;
    const D = VIRTIO_STATUS_DRIVER;
    const F = VIRTIO_STATUS_FEATURES_OK;
    const OK = VIRTIO_STATUS_DRIVER_OK;
    if (old & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) return false;
    switch (old) {
      case 0: return added === A;
      case A: return added === D;
      case A | D: return added === F;
      case A | D | F: return added === OK;
      default: return false;
    }
  }

  private activate(): void {
    for (const [i, q] of this.queues.entries()) {
      const why = q.ready ? q.invalidReason(this.mem) : null;
      if (why !== null) {
        this.markBroken(`activation: queue ${i}: ${why}`);
        return;
      }
    }
    const indirect = (this.ackedFeatures & VIRTIO_RING_F_INDIRECT_DESC) !== 0n;
    for (const q of this.queues) q.indirectEnabled = indirect;
    try {
      this.device.activate({
        mem: this.mem,
        queues: this.queues.map((q) => (q.ready ? q : null)),
        interrupt: this.interrupt,
        ackedFeatures: this.ackedFeatures,
      });
      this.activated = true;
    } catch (e) {
      this.markBroken(`activation failed: ${(e as Error).message}`);
    }
  }

  /** Sets DEVICE_NEEDS_RESET, tells the driver with a config-change interrupt, and logs one line. */
  private markBroken(why: string): void {
    this.broken = true;
    this.log(`${this.name}: ${why}; device needs reset`);
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    this.interrupt.signalConfigChange();
  }

  private raise(bit: number): void {
    this.interruptStatus |= bit;
    this.irq.trigger();
  }

  private reset(): void {
    if (this.activated) {
      try {
        this.device.reset();
      } catch (e) {
        this.log(`${this.name}: reset failed: ${(e as Error).message}`);
      }
    }
    for (const q of this.queues) q.reset();
    this.status = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.ackedFeatures = 0n;
    this.queueSel = 0;
    this.interruptStatus = 0;
    this.activated = false;
    this.broken = false;
  }
}
