// The Differentiated System Description Table: the S5 (soft-off) sleep type and the virtio-mmio devices, in AML.
import { IRQ_MAX } from '../layout.js';
import { amlDevice, amlInteger, amlName, amlPackage, amlString, concat } from './aml.js';
import { AcpiError } from './errors.js';
import { ACPI_S5_SLEEP_TYPE } from './layout.js';
import { edgeInterrupt, memory32Fixed, resourceTemplate } from './resources.js';
import { buildSdt } from './sdt.js';

export const DSDT_SIGNATURE = 'DSDT';
/** Revision 2: AML integers are 64-bit. */
export const DSDT_REVISION = 2;
/** ACPI hardware id Linux's virtio_mmio driver matches (its acpi_match_table), as Firecracker announces them. */
export const VIRTIO_MMIO_ACPI_HID = 'LNRO0005';
/** Most virtio-mmio devices named V000..V999 under \_SB_. */
export const DSDT_MAX_VIRTIO_MMIO_DEVICES = 1000;

/** One virtio-mmio device as the guest should discover it: register window and its GSI (IO-APIC pin). */
export interface AcpiVirtioMmioDevice {
  readonly base: number;
  readonly size: number;
  readonly irq: number;
}

/**
 * `Name (_S5_, Package () { SLP_TYPa, SLP_TYPb, 0, 0 })` at the root. Linux reads SLP_TYPa from it and writes
 * it, with SLP_EN, to the FADT's SLEEP_CONTROL_REG to power off; without \_S5_ it never offers ACPI poweroff.
 * SLP_TYPb is unused on hardware-reduced platforms, and the last two elements are reserved.
 */
export function s5Aml(): Uint8Array {
  return amlName('_S5_', amlPackage([amlInteger(ACPI_S5_SLEEP_TYPE), amlInteger(0), amlInteger(0), amlInteger(0)]));
}

/**
 * `Device (\_SB_.Vnnn) { _HID "LNRO0005", _UID n, _CCA 1, _CRS { Memory32Fixed, Interrupt (edge, high) } }`.
 * Debian's kernel is built without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, so on an ACPI guest this is how its
 * virtio_mmio driver finds devices; the interrupt is a GSI, which Linux maps through the IO-APIC itself.
 */
export function virtioMmioAml(index: number, dev: AcpiVirtioMmioDevice): Uint8Array {
  if (!Number.isInteger(dev.irq) || dev.irq < 0 || dev.irq > IRQ_MAX) {
    throw new AcpiError(`virtio-mmio device ${index} at 0x${dev.base.toString(16)}: IRQ ${dev.irq} is not an IO-APIC pin 0..${IRQ_MAX}`);
  }
  if (!Number.isInteger(dev.size) || dev.size <= 0) throw new AcpiError(`virtio-mmio device ${index}: bad window size ${dev.size}`);
  return amlDevice(`\\_SB_.V${String(index).padStart(3, '0')}`, [
    amlName('_HID', amlString(VIRTIO_MMIO_ACPI_HID)),
    amlName('_UID', amlInteger(index)),
    amlName('_CCA', amlInteger(1)),
    amlName('_CRS', resourceTemplate([memory32Fixed(dev.base, dev.size), edgeInterrupt(dev.irq)])),
  ]);
}

export function buildDsdt(virtioMmio: readonly AcpiVirtioMmioDevice[] = []): Uint8Array {
  if (virtioMmio.length > DSDT_MAX_VIRTIO_MMIO_DEVICES) throw new AcpiError(`too many virtio-mmio devices for the DSDT: ${virtioMmio.length}`);
  return buildSdt(DSDT_SIGNATURE, DSDT_REVISION, 'QVMMDSDT', concat([s5Aml(), ...virtioMmio.map((d, i) => virtioMmioAml(i, d))]));
}
