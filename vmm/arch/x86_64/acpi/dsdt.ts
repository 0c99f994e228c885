// The Differentiated System Description Table in AML: the S5 (soft-off) sleep type, legacy and virtio-mmio devices.
import {
  COM1_IRQ,
  COM1_PORT_BASE,
  COM1_PORT_LEN,
  I8042_COMMAND_PORT,
  I8042_DATA_PORT,
  I8042_KEYBOARD_IRQ,
} from '../../../devices/legacy/ports.js';
import { IRQ_MAX } from '../layout.js';
import { amlDevice, amlEisaId, amlInteger, amlName, amlPackage, amlString, concat } from './aml.js';
import { AcpiError } from './errors.js';
import { ACPI_S5_SLEEP_TYPE } from './layout.js';
import { edgeInterrupt, ioPorts, memory32Fixed, resourceTemplate } from './resources.js';
import { buildSdt } from './sdt.js';

export const DSDT_SIGNATURE = 'DSDT';
/** Revision 2: AML integers are 64-bit. */
export const DSDT_REVISION = 2;
/** ACPI hardware id Linux's virtio_mmio driver matches (its acpi_match_table), as Firecracker announces them. */
export const VIRTIO_MMIO_ACPI_HID = 'LNRO0005';
/** PNP ids of the legacy devices: a 16550A-compatible UART and a PS/2 (i8042) keyboard controller. */
export const PNP_ID_UART_16550A = 'PNP0501';
export const PNP_ID_PS2_KEYBOARD = 'PNP0303';
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

/**
 * The legacy devices on the PIO bus, described so Linux maps their ISA IRQs. A hardware-reduced guest runs
 * without the 8259 (Linux's null legacy PIC), so ISA IRQ numbers are no longer pre-mapped to IO-APIC pins: a
 * driver that requests "IRQ 4" for the UART found at 0x3f8 without ACPI gets no working line. Listed here, the
 * 8250 and i8042 drivers take IO-APIC GSIs 4 and 1 from _CRS instead, as on Firecracker.
 */
export function com1Aml(): Uint8Array {
  return amlDevice('\\_SB_.COM1', [
    amlName('_HID', amlEisaId(PNP_ID_UART_16550A)),
    amlName('_UID', amlInteger(0)),
    amlName('_CRS', resourceTemplate([ioPorts(COM1_PORT_BASE, COM1_PORT_LEN), edgeInterrupt(COM1_IRQ)])),
  ]);
}

export function i8042Aml(): Uint8Array {
  return amlDevice('\\_SB_.PS2_', [
    amlName('_HID', amlEisaId(PNP_ID_PS2_KEYBOARD)),
    amlName('_CRS', resourceTemplate([ioPorts(I8042_DATA_PORT, 1), ioPorts(I8042_COMMAND_PORT, 1), edgeInterrupt(I8042_KEYBOARD_IRQ)])),
  ]);
}

/** What the DSDT describes besides \_S5_. */
export interface DsdtDevices {
  /** the COM1 UART at 0x3f8, IRQ 4 (default true) */
  readonly serial?: boolean;
  /** the i8042 at 0x60/0x64, IRQ 1 (default true) */
  readonly i8042?: boolean;
  /** virtio-mmio devices, in order (default none) */
  readonly virtioMmio?: readonly AcpiVirtioMmioDevice[];
}

export function buildDsdt(devices: DsdtDevices = {}): Uint8Array {
  const virtioMmio = devices.virtioMmio ?? [];
  if (virtioMmio.length > DSDT_MAX_VIRTIO_MMIO_DEVICES) throw new AcpiError(`too many virtio-mmio devices for the DSDT: ${virtioMmio.length}`);
  const aml = [s5Aml()];
  if (devices.serial ?? true) aml.push(com1Aml());
  if (devices.i8042 ?? true) aml.push(i8042Aml());
  aml.push(...virtioMmio.map((d, i) => virtioMmioAml(i, d)));
  return buildSdt(DSDT_SIGNATURE, DSDT_REVISION, 'QVMMDSDT', concat(aml));
}
