// Per-vCPU boot state: CPUID, MSRs and local APIC LINT pins for every vCPU; registers for the boot vCPU
// (the others wait for INIT/SIPI from the in-kernel LAPIC, as on real hardware).
import type { VcpuFd } from '../kvm/vcpu.js';
import type { CpuidEntry } from '../kvm/types.js';
import { bootFpu, bootMsrs, bootRegs, longModeSregs, vcpuCpuid, type BootInfo } from '../arch/x86_64/boot.js';

/** struct kvm_lapic_state register offsets (the APIC's MMIO layout) */
const APIC_LVT0 = 0x350;
const APIC_LVT1 = 0x360;
const APIC_DELIVERY_MODE_MASK = 0x700;
const APIC_MODE_EXTINT = 0x7 << 8;
const APIC_MODE_NMI = 0x4 << 8;

export interface VcpuSetup {
  readonly id: number;
  readonly count: number;
  readonly supportedCpuid: readonly CpuidEntry[];
  readonly boot: BootInfo;
}

/** LINT0 delivers ExtINT (the legacy PIC) and LINT1 NMI, which Linux expects from a BIOS. */
function setLapicLints(vcpu: VcpuFd): void {
  const lapic = vcpu.getLapic();
  const view = new DataView(lapic.buffer, lapic.byteOffset, lapic.byteLength);
  const set = (off: number, mode: number): void => view.setUint32(off, (view.getUint32(off, true) & ~APIC_DELIVERY_MODE_MASK) | mode, true);
  set(APIC_LVT0, APIC_MODE_EXTINT);
  set(APIC_LVT1, APIC_MODE_NMI);
  vcpu.setLapic(lapic);
}

export function configureVcpu(vcpu: VcpuFd, s: VcpuSetup): void {
  vcpu.setCpuid2(vcpuCpuid(s.supportedCpuid, s.id, s.count));
  vcpu.setMsrs(bootMsrs());
  setLapicLints(vcpu);
  if (s.id !== 0) return;
  vcpu.setRegs(bootRegs(s.boot.entry, s.boot.zeroPage));
  vcpu.setSregs(longModeSregs(vcpu.getSregs()));
  vcpu.setFpu(bootFpu());
}
