// The Multiple APIC Description Table: the local APIC address, one enabled local APIC per vCPU, one IO-APIC.
import { IOAPIC_START, LAPIC_START } from '../layout.js';
import { buildSdt } from './sdt.js';

export const MADT_SIGNATURE = 'APIC';
/** ACPI 6.3+ MADT revision. */
export const MADT_REVISION = 5;
/** Body before the interrupt controller structures: local APIC address (4) and flags (4). */
export const MADT_FIXED_SIZE = 8;
/**
 * MADT flags: PCAT_COMPAT (bit 0) stays clear. A hardware-reduced Linux guest uses no 8259 (it installs its
 * null legacy PIC), so we describe none, as Firecracker does.
 */
export const MADT_FLAGS = 0;

/** Processor Local APIC structure (type 0, 8 bytes). */
export const MADT_TYPE_LOCAL_APIC = 0;
export const MADT_LOCAL_APIC_SIZE = 8;
/** Local APIC flags: the processor is usable. */
export const MADT_LOCAL_APIC_ENABLED = 1 << 0;
/** IO-APIC structure (type 1, 12 bytes). */
export const MADT_TYPE_IOAPIC = 1;
export const MADT_IOAPIC_SIZE = 12;
/** IO-APIC id: 0, the reset value of KVM's in-kernel IO-APIC id register, so Linux has nothing to reprogram. */
export const MADT_IOAPIC_ID = 0;
/** First GSI of the IO-APIC: its pins are GSIs 0..23, as KVM's default routing has them. */
export const MADT_IOAPIC_GSI_BASE = 0;
/** Largest APIC id a Processor Local APIC structure holds (x2APIC structures would be needed above). */
export const MADT_MAX_APIC_ID = 254;

/**
 * The MADT for `vcpus` vCPUs, vCPU i having ACPI processor UID i and APIC id i. No Interrupt Source Overrides:
 * KVM's default GSI routing (kvm_setup_default_irq_routing) wires GSI n to IO-APIC pin n and its in-kernel PIT
 * raises GSI 0, so every ISA IRQ is identity-mapped, edge-triggered, active-high, which is what the absence of
 * overrides tells the guest. (QEMU needs IRQ0 -> GSI2 only because it routes the PIT to pin 2 itself.)
 */
export function buildMadt(vcpus: number): Uint8Array {
  const body = new Uint8Array(MADT_FIXED_SIZE + vcpus * MADT_LOCAL_APIC_SIZE + MADT_IOAPIC_SIZE);
  const view = new DataView(body.buffer);
  view.setUint32(0, LAPIC_START, true);
  view.setUint32(4, MADT_FLAGS, true);
  let off = MADT_FIXED_SIZE;
  for (let i = 0; i < vcpus; i++) {
    view.setUint8(off, MADT_TYPE_LOCAL_APIC);
    view.setUint8(off + 1, MADT_LOCAL_APIC_SIZE);
    view.setUint8(off + 2, i); // ACPI processor UID
    view.setUint8(off + 3, i); // APIC id
    view.setUint32(off + 4, MADT_LOCAL_APIC_ENABLED, true);
    off += MADT_LOCAL_APIC_SIZE;
  }
  view.setUint8(off, MADT_TYPE_IOAPIC);
  view.setUint8(off + 1, MADT_IOAPIC_SIZE);
  view.setUint8(off + 2, MADT_IOAPIC_ID);
  view.setUint8(off + 3, 0); // reserved
  view.setUint32(off + 4, IOAPIC_START, true);
  view.setUint32(off + 8, MADT_IOAPIC_GSI_BASE, true);
  return buildSdt(MADT_SIGNATURE, MADT_REVISION, 'QVMMAPIC', body);
}
