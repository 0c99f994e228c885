// Turns a validated VmConfig into a ready-to-start Vm: guest memory, kernel and ACPI tables first (so bad
// kernels and initrds fail before KVM is touched), then the KVM VM, irqchip and PIT, devices on the buses, vCPUs.
import fs from 'node:fs';
import { Kvm } from '../kvm/kvm.js';
import type { VmFd } from '../kvm/vm.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { setupLinuxBoot, type BootInfo } from '../arch/x86_64/boot.js';
import { guestRegions, virtioMmioAddress, virtioMmioIrq, VIRTIO_MMIO_DEVICE_SIZE, VIRTIO_MMIO_MAX_DEVICES } from '../arch/x86_64/layout.js';
import { configureVcpu } from './vcpu-setup.js';
import { Bus } from '../bus/bus.js';
import { createLegacyDevices } from './legacy-devices.js';
import { VirtioMmioTransport } from '../devices/virtio/mmio/transport.js';
import { writeAcpiTables } from '../arch/x86_64/acpi/tables.js';
import { AcpiSleepControl, insertAcpiSleepControl } from '../devices/acpi/sleep-control.js';
import type { VirtioDevice } from '../devices/virtio/virtio-device.js';
import { VirtioBlock } from '../devices/virtio/blk/device.js';
import { VirtioRng } from '../devices/virtio/rng/device.js';
import { VirtioVsock } from '../devices/virtio/vsock/device.js';
import { IrqLine } from '../runtime/irq.js';
import { Vm } from '../runtime/vm.js';
import type { DeviceDescription } from '../api/protocol.js';
import { COM1_IRQ, COM1_PORT_BASE, COM1_PORT_LEN, I8042_DATA_PORT, I8042_KEYBOARD_IRQ } from '../devices/legacy/ports.js';
import { VcpuThread, vcpuKickSignal } from '../vcpu/vcpu-thread.js';
import { ExitRing } from '../vcpu/exit-ring.js';
import type { VmConfig } from '../config/vm-config.js';

export interface BuildOptions {
  readonly log: (line: string) => void;
  /** serial console on this process's stdin/stdout */
  readonly stdio: boolean;
}

/** TSS and identity-map pages KVM needs on Intel; placed just below the 4 GiB boundary, inside the MMIO gap. */
const KVM_TSS_ADDR = 0xfffb_d000;
const KVM_IDENTITY_MAP_ADDR = 0xfffb_c000n;
const KVM_PIT_SPEAKER_DUMMY = 1;

interface PlannedVirtio {
  readonly device: VirtioDevice & { close?: () => void | Promise<void> };
  readonly kind: string;
  readonly properties: Record<string, string | number | boolean>;
}

function planVirtioDevices(config: VmConfig, log: (line: string) => void): PlannedVirtio[] {
  const planned: PlannedVirtio[] = [];
  config.drives.forEach((d, i) => {
    const prefixed = (line: string): void => log(`disk ${i} (${d.path}): ${line}`);
    planned.push({ device: new VirtioBlock({ path: d.path, readOnly: d.readOnly }, prefixed), kind: 'virtio-blk', properties: { path: d.path, readOnly: d.readOnly } });
  });
  planned.push({ device: new VirtioRng(log), kind: 'virtio-rng', properties: {} });
  if (config.vsock) {
    const vsock = new VirtioVsock(config.vsock, log);
    // The host side must be reachable before the guest runs; a bind failure is fatal, not a log line.
    vsock.listening.catch(() => {});
    planned.push({ device: vsock, kind: 'virtio-vsock', properties: { guestCid: config.vsock.guestCid, udsPath: config.vsock.udsPath } });
  }
  if (planned.length > VIRTIO_MMIO_MAX_DEVICES) throw new Error(`too many devices: at most ${VIRTIO_MMIO_MAX_DEVICES} virtio devices fit the IRQ range`);
  return planned;
}

export async function buildVm(config: VmConfig, opts: BuildOptions): Promise<Vm> {
  const { log } = opts;
  const kernel = fs.readFileSync(config.kernelPath);
  const initrd = config.initrdPath !== undefined ? fs.readFileSync(config.initrdPath) : undefined;

  const mem = GuestMemory.create(guestRegions(config.memoryMiB * 1024 * 1024));
  const planned = planVirtioDevices(config, log);
  const boot: BootInfo = setupLinuxBoot(mem, { kernel, ...(initrd ? { initrd } : {}), cmdline: config.cmdline.trim(), vcpus: config.vcpus });
  // Devices are announced in the ACPI DSDT: Debian's kernels are built without virtio_mmio.device= support.
  writeAcpiTables(mem, {
    vcpus: config.vcpus,
    virtioMmio: planned.map((_, i) => ({ base: virtioMmioAddress(i), size: VIRTIO_MMIO_DEVICE_SIZE, irq: virtioMmioIrq(i) })),
  });

  for (const p of planned) if (p.device instanceof VirtioVsock) await p.device.listening;

  const kvm = Kvm.open();
  const vmFd: VmFd = kvm.createVm();
  vmFd.setTssAddr(KVM_TSS_ADDR);
  vmFd.setIdentityMapAddr(KVM_IDENTITY_MAP_ADDR);
  vmFd.createIrqchip();
  vmFd.createPit2(KVM_PIT_SPEAKER_DUMMY);
  mem.regions.forEach((r, slot) => vmFd.setUserMemoryRegion(slot, r.start, r.buffer));

  const infos: DeviceDescription[] = [
    { kind: 'serial', id: 'com1', bus: 'pio', base: COM1_PORT_BASE, len: COM1_PORT_LEN, irq: COM1_IRQ },
    { kind: 'i8042', id: 'i8042', bus: 'pio', base: I8042_DATA_PORT, len: 5, irq: I8042_KEYBOARD_IRQ },
  ];
  const vm = new Vm(config, infos, log);
  const pio = new Bus('pio');
  const mmio = new Bus('mmio');

  const legacy = createLegacyDevices(vmFd, pio, {
    stdio: opts.stdio,
    onReset: () => void vm.end({ code: 0, reason: 'the guest reset the machine' }),
    log,
  });
  vm.own(legacy);
  insertAcpiSleepControl(pio, new AcpiSleepControl({ onPowerOff: () => void vm.end({ code: 0, reason: 'the guest powered off' }) }));

  planned.forEach((p, i) => {
    const irq = new IrqLine(vmFd.fd, virtioMmioIrq(i));
    const transport = new VirtioMmioTransport(p.device, mem, irq, log);
    const id = `${p.kind}-${i}`;
    mmio.insert(transport, virtioMmioAddress(i), VIRTIO_MMIO_DEVICE_SIZE, id);
    infos.push({ kind: p.kind, id, bus: 'mmio', base: virtioMmioAddress(i), len: VIRTIO_MMIO_DEVICE_SIZE, irq: virtioMmioIrq(i), properties: p.properties });
    if (p.device.close) vm.own({ close: () => p.device.close!() });
  });

  const kickSignal = vcpuKickSignal();
  const supportedCpuid = kvm.supportedCpuid();
  const runMmapSize = kvm.vcpuMmapSize();
  const ring = new ExitRing();
  for (let id = 0; id < config.vcpus; id++) {
    const vcpu = vmFd.createVcpu(id);
    configureVcpu(vcpu, { id, count: config.vcpus, supportedCpuid, boot });
    vm.addVcpu(
      new VcpuThread({
        vcpuId: id,
        vcpuFd: vcpu.fd,
        runMmapSize,
        kickSignal,
        ring,
        pio,
        mmio,
        log,
        // A reset (i8042, reboot=k) or an ACPI poweroff is a clean end; a triple fault or a crash is not.
        onGuestStop: (reason) => void vm.end({ code: reason === 'crash' || reason === 'triple-fault' ? 1 : 0, reason: `guest ${reason}` }),
        onError: (message) => void vm.end({ code: 1, reason: message }),
      }),
    );
  }
  return vm;
}
