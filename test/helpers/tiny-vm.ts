// Tiny VMs built through the real runtime: GuestMemory, VmFd (optional irqchip/PIT), PIO and MMIO Buses, one
// VcpuThread worker per vCPU (real or flat 32-bit mode) and a Vm for the lifecycle. Nothing under test is faked.
import { native } from '../../kvm-native/index.js';
import type { DeviceDescription } from '../../vmm/api/protocol.js';
import type { BusDevice } from '../../vmm/bus/bus-device.js';
import { Bus } from '../../vmm/bus/bus.js';
import type { VmConfig } from '../../vmm/config/vm-config.js';
import { KVM_MP_STATE, KVM_PIT_SPEAKER_DUMMY } from '../../vmm/kvm/constants.js';
import { Kvm } from '../../vmm/kvm/kvm.js';
import type { VcpuFd } from '../../vmm/kvm/vcpu.js';
import type { VmFd } from '../../vmm/kvm/vm.js';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { Vm } from '../../vmm/runtime/vm.js';
import { ExitRing } from '../../vmm/vcpu/exit-ring.js';
import { VcpuThread, vcpuKickSignal } from '../../vmm/vcpu/vcpu-thread.js';
import { setupProtected32, setupRealMode, TINY_STACK_TOP, type CpuMode } from './tiny-guest.js';

/** Default RAM of a tiny VM: 64 KiB at guest-physical 0 (real mode reaches all of it with segment bases 0). */
export const TINY_VM_MEM_SIZE = 0x10000;
/** TSS pages KVM wants on Intel (harmless on AMD); inside the unmapped space below 4 GiB. */
const TINY_TSS_ADDR = 0xfffb_d000;
const MIB = 1024 * 1024;

/** LAPIC register page (kvm_lapic_state) offset of LVT0 (LINT0, where the 8259 PIC's output arrives). */
export const LAPIC_LVT0_OFFSET = 0x350;
/** LVT delivery mode field (bits 8-10) and its ExtINT value (0b111): "take the vector from the PIC". */
export const LAPIC_LVT_DELIVERY_MODE_MASK = 0x700;
export const LAPIC_LVT_DELIVERY_EXTINT = 0x700;
/** LVT mask bit: set, the line is ignored. */
export const LAPIC_LVT_MASKED = 1 << 16;

export interface TinyVmDevice {
  readonly bus: 'pio' | 'mmio';
  readonly base: number;
  readonly len: number;
  readonly name: string;
  readonly device: BusDevice;
}

export interface TinyVcpuSpec {
  /** guest-physical (= linear, all segment bases are 0) address of the first instruction */
  readonly entry: number;
  readonly stackTop?: number;
}

export interface TinyVmOptions {
  readonly name?: string;
  readonly mode?: CpuMode;
  readonly memSize?: number;
  /** code and data blobs, each copied into guest RAM at its address */
  readonly images: readonly { readonly addr: number; readonly bytes: Uint8Array }[];
  /** one entry per vCPU */
  readonly vcpus: readonly TinyVcpuSpec[];
  /** the in-kernel irqchip (PIC, IOAPIC, LAPICs); without it a `hlt` ends the vCPU thread */
  readonly irqchip?: boolean;
  /** the in-kernel PIT (needs irqchip) */
  readonly pit?: boolean;
  readonly devices?: readonly TinyVmDevice[];
}

/** The guest ended one vCPU (hlt without an irqchip, triple fault...). */
export interface GuestStop {
  readonly vcpuId: number;
  readonly reason: string;
}

export interface TinyVm {
  readonly vm: Vm;
  readonly vmFd: VmFd;
  readonly mem: GuestMemory;
  readonly pio: Bus;
  readonly mmio: Bus;
  readonly vcpuFds: readonly VcpuFd[];
  /** guest stops in arrival order (the tiny VM does not end on them: the test decides) */
  readonly guestStops: GuestStop[];
  /** vCPU errors (KVM internal errors, unhandled exits); a correct test run has none */
  readonly errors: string[];
  readonly logs: string[];
  /** Starts every vCPU thread. */
  start(): Promise<void>;
  /** Stops the VM if it still runs (ending the workers) and releases every fd. Safe to call twice. */
  close(): Promise<void>;
}

function configFor(opts: TinyVmOptions, memSize: number): VmConfig {
  return {
    name: opts.name ?? 'tiny',
    kernelPath: '(none: hand-assembled test code)',
    cmdline: '',
    memoryMiB: Math.ceil(memSize / MIB),
    vcpus: opts.vcpus.length,
    drives: [],
    console: 'none',
  };
}

/** Builds (does not start) a tiny VM. Registers of vCPUs are set before any worker runs. */
export function buildTinyVm(opts: TinyVmOptions): TinyVm {
  const memSize = opts.memSize ?? TINY_VM_MEM_SIZE;
  const mode = opts.mode ?? 'real';
  if (opts.vcpus.length === 0) throw new Error('tiny VM: at least one vCPU');
  if (opts.pit && !opts.irqchip) throw new Error('tiny VM: the PIT needs the irqchip');

  const mem = GuestMemory.create([{ start: GuestAddress(0), size: memSize }], `tiny-vm-${opts.name ?? 'tiny'}`);
  for (const img of opts.images) mem.write(img.addr, img.bytes);

  const kvm = Kvm.open();
  const vmFd = kvm.createVm();
  vmFd.setTssAddr(TINY_TSS_ADDR);
  if (opts.irqchip) vmFd.createIrqchip();
  if (opts.pit) vmFd.createPit2(KVM_PIT_SPEAKER_DUMMY);
  mem.regions.forEach((r, slot) => vmFd.setUserMemoryRegion(slot, r.start, r.buffer));

  const pio = new Bus('pio');
  const mmio = new Bus('mmio');
  const descriptions: DeviceDescription[] = [];
  for (const d of opts.devices ?? []) {
    (d.bus === 'pio' ? pio : mmio).insert(d.device, d.base, d.len, d.name);
    descriptions.push({ kind: 'test', id: d.name, bus: d.bus, base: d.base, len: d.len, irq: null });
  }

  const logs: string[] = [];
  const log = (line: string): void => void logs.push(line);
  const vm = new Vm(configFor(opts, memSize), descriptions, log);
  const guestStops: GuestStop[] = [];
  const errors: string[] = [];

  const kickSignal = vcpuKickSignal();
  const vcpuFds: VcpuFd[] = [];
  // one exit ring for all vCPUs, as the VM builder does
  const ring = new ExitRing();
  opts.vcpus.forEach((spec, id) => {
    const vcpu = vmFd.createVcpu(id);
    vcpuFds.push(vcpu);
    const stack = spec.stackTop ?? TINY_STACK_TOP;
    if (mode === 'real') setupRealMode(vcpu, spec.entry, stack);
    else setupProtected32(vcpu, spec.entry, stack);
    // With an irqchip, application processors wait for INIT/SIPI; tiny guests start them all at once.
    if (opts.irqchip && id > 0) vcpu.setMpState(KVM_MP_STATE.RUNNABLE);
    vm.addVcpu(
      new VcpuThread({
        vcpuId: id,
        vcpuFd: vcpu.fd,
        runMmapSize: kvm.vcpuMmapSize(),
        kickSignal,
        pio,
        mmio,
        ring,
        log,
        onGuestStop: (reason) => void guestStops.push({ vcpuId: id, reason }),
        onError: (message) => void errors.push(message),
      }),
    );
  });

  // Registered first, so released last: after every worker has ended.
  vm.own({
    close: () => {
      for (const v of vcpuFds) v.close();
      vmFd.close();
      kvm.close();
      // The mapping stays valid until GC; only the memfd number is released here.
      native.close(mem.fd);
    },
  });

  return {
    vm, vmFd, mem, pio, mmio, vcpuFds, guestStops, errors, logs,
    start: () => vm.start(),
    close: async () => {
      await vm.stop();
      await vm.exited;
    },
  };
}

/** Makes the LAPIC pass the 8259 PIC's interrupts to the vCPU: LVT0 = ExtINT, unmasked. Call before start. */
export function acceptPicInterrupts(vcpu: VcpuFd): void {
  const lapic = vcpu.getLapic();
  const view = new DataView(lapic.buffer, lapic.byteOffset, lapic.byteLength);
  let lvt0 = view.getUint32(LAPIC_LVT0_OFFSET, true);
  lvt0 = (lvt0 & ~LAPIC_LVT_DELIVERY_MODE_MASK & ~LAPIC_LVT_MASKED) | LAPIC_LVT_DELIVERY_EXTINT;
  view.setUint32(LAPIC_LVT0_OFFSET, lvt0 >>> 0, true);
  vcpu.setLapic(lapic);
}

/** Polls `cond` every few ms until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One recorded bus access. */
export interface Access {
  readonly op: 'read' | 'write';
  readonly offset: number;
  /** the bytes written, or the bytes the device answered */
  readonly data: readonly number[];
}

/**
 * A test device that records every access and answers reads from `reply(offset, size)` (default: zeros).
 * It is the device at the far end of the bus, not a stand-in for the runtime under test.
 */
export class RecordingDevice implements BusDevice {
  readonly accesses: Access[] = [];
  constructor(private readonly reply: (offset: number, size: number) => number[] = () => []) {}
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    const r = this.reply(offset, data.length);
    for (let i = 0; i < data.length && i < r.length; i++) data[i] = r[i]!;
    this.accesses.push({ op: 'read', offset, data: [...data] });
  }
  write(offset: number, data: Uint8Array): void {
    this.accesses.push({ op: 'write', offset, data: [...data] });
  }
  writes(): Access[] {
    return this.accesses.filter((a) => a.op === 'write');
  }
}
