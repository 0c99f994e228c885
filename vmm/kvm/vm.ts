// VmFd: a KVM VM fd (TSS/identity map, irqchip, PIT, memory slots, IRQ lines, irqfd, ioeventfd, vCPUs).
import { native } from '../../kvm-native/index.js';
import {
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_DEASSIGN,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IRQFD_FLAG_DEASSIGN,
} from './constants.js';
import { VcpuFd } from './vcpu.js';

/** Where an ioeventfd listens: a port (PIO) or a guest-physical address (MMIO). */
export interface IoEventAddress {
  readonly space: 'pio' | 'mmio';
  readonly addr: number | bigint;
}

/** Only signal when the guest writes exactly `value` with an access of `len` bytes. */
export interface IoEventDatamatch {
  readonly len: 1 | 2 | 4 | 8;
  readonly value: bigint;
}

function toBig(v: number | bigint, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: invalid address ${v}`);
  return BigInt(v);
}

export class VmFd {
  /** Mappings handed to KVM, per slot: kept referenced so GC never unmaps memory the guest uses. */
  private readonly slots = new Map<number, ArrayBuffer>();
  private closed = false;

  /** Wraps a VM fd (owned from now on); `vcpuMmapSize` comes from Kvm.vcpuMmapSize(). */
  constructor(readonly fd: number, readonly vcpuMmapSize: number) {}

  setTssAddr(addr: number): void {
    native.vmSetTssAddr(this.fd, addr);
  }

  setIdentityMapAddr(addr: number | bigint): void {
    native.vmSetIdentityMapAddr(this.fd, toBig(addr, 'identity map'));
  }

  createIrqchip(): void {
    native.vmCreateIrqchip(this.fd);
  }

  /** KVM_CREATE_PIT2; flags 0 or KVM_PIT_SPEAKER_DUMMY. */
  createPit2(flags = 0): void {
    native.vmCreatePit2(this.fd, flags);
  }

  /**
   * KVM_SET_USER_MEMORY_REGION: maps `mem` (an ArrayBuffer from native.mmap, e.g. a GuestRegion's
   * buffer) at guest-physical `guestPhysAddr` in `slot`; `mem` null deletes the slot.
   */
  setUserMemoryRegion(slot: number, guestPhysAddr: number | bigint, mem: ArrayBuffer | null, flags = 0): void {
    native.vmSetUserMemoryRegion(this.fd, slot, flags, toBig(guestPhysAddr, `memory slot ${slot}`), mem);
    if (mem === null) this.slots.delete(slot);
    else this.slots.set(slot, mem);
  }

  /** KVM_IRQ_LINE: drives a GSI of the in-kernel irqchip high or low. */
  irqLine(irq: number, level: boolean | 0 | 1): void {
    native.vmIrqLine(this.fd, irq, level ? 1 : 0);
  }

  /** KVM_IRQFD: a write to `eventFd` injects `gsi`. */
  irqfd(eventFd: number, gsi: number): void {
    native.vmIrqfd(this.fd, eventFd, gsi, 0);
  }

  unregisterIrqfd(eventFd: number, gsi: number): void {
    native.vmIrqfd(this.fd, eventFd, gsi, KVM_IRQFD_FLAG_DEASSIGN);
  }

  /** KVM_IOEVENTFD: a guest write to `at` signals `eventFd` in the kernel instead of exiting. */
  ioeventfd(eventFd: number, at: IoEventAddress, datamatch?: IoEventDatamatch): void {
    this.ioevent(eventFd, at, datamatch, 0);
  }

  unregisterIoeventfd(eventFd: number, at: IoEventAddress, datamatch?: IoEventDatamatch): void {
    this.ioevent(eventFd, at, datamatch, KVM_IOEVENTFD_FLAG_DEASSIGN);
  }

  private ioevent(eventFd: number, at: IoEventAddress, datamatch: IoEventDatamatch | undefined, extraFlags: number): void {
    let flags = extraFlags;
    if (at.space === 'pio') flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (datamatch !== undefined) flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    const addr = toBig(at.addr, `ioeventfd ${at.space}`);
    native.vmIoeventfd(this.fd, eventFd, addr, datamatch?.len ?? 0, flags, datamatch?.value ?? 0n);
  }

  /** KVM_CREATE_VCPU. */
  createVcpu(id: number): VcpuFd {
    return new VcpuFd(native.vmCreateVcpu(this.fd, id), id, this.vcpuMmapSize);
  }

  /** KVM_CHECK_EXTENSION on the VM fd (some answers are per VM). */
  checkExtension(cap: number): number {
    return native.kvmCheckExtension(this.fd, cap);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.fd);
    this.slots.clear();
  }
}
