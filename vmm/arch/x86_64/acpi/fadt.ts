// The Fixed ACPI Description Table (revision 6, 276 bytes): hardware-reduced ACPI, sleep and reset registers, DSDT.
import { CMD_RESET_CPU } from '../../../devices/legacy/i8042.js';
import { I8042_COMMAND_PORT } from '../../../devices/legacy/ports.js';
import { ioPortByte, writeGas } from './gas.js';
import { ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT } from './layout.js';
import { SDT_HEADER_SIZE, buildSdt, writeAscii } from './sdt.js';

export const FADT_SIGNATURE = 'FACP';
/** ACPI 6.x FADT. */
export const FADT_REVISION = 6;
/** Minor version field: ACPI 6.5. */
export const FADT_MINOR_REVISION = 5;
/** Whole table, header included. */
export const FADT_SIZE = 276;

/** Field offsets from the start of the table (ACPI 6.5 table 5.9). */
export const FADT_DSDT_OFFSET = 40;
export const FADT_IAPC_BOOT_ARCH_OFFSET = 109;
export const FADT_FLAGS_OFFSET = 112;
export const FADT_RESET_REG_OFFSET = 116;
export const FADT_RESET_VALUE_OFFSET = 128;
export const FADT_MINOR_REVISION_OFFSET = 131;
export const FADT_X_DSDT_OFFSET = 140;
export const FADT_SLEEP_CONTROL_REG_OFFSET = 244;
export const FADT_SLEEP_STATUS_REG_OFFSET = 256;
export const FADT_HYPERVISOR_VENDOR_OFFSET = 268;

/** Fixed feature flags (FADT Flags). */
/** The reset register is supported (Linux's default reboot method, "reboot=a", writes it). */
export const FADT_F_RESET_REG_SUP = 1 << 10;
/** The power button, if any, is a control method device: there is no fixed-feature power button. */
export const FADT_F_PWR_BUTTON = 1 << 4;
/** Likewise no fixed-feature sleep button. */
export const FADT_F_SLP_BUTTON = 1 << 5;
/** Hardware-reduced ACPI: no PM1/GPE blocks, no SCI, no PM timer; sleep goes through SLEEP_CONTROL_REG. */
export const FADT_F_HW_REDUCED_ACPI = 1 << 20;

/** IA-PC boot architecture flags (FADT IAPC_BOOT_ARCH). */
/** Legacy (ISA/LPC) devices the OS cannot enumerate are present; we leave it clear (none beyond the below). */
export const IAPC_BOOT_ARCH_LEGACY_DEVICES = 1 << 0;
/** An 8042 (i8042) is present at 0x60/0x64: keeps Linux probing it as it does without ACPI. */
export const IAPC_BOOT_ARCH_8042 = 1 << 1;
/** No VGA hardware: the OS must not probe VGA ports/memory. */
export const IAPC_BOOT_ARCH_VGA_NOT_PRESENT = 1 << 2;
/** MSI must not be enabled; left clear, PCI passthrough will use MSI. */
export const IAPC_BOOT_ARCH_MSI_NOT_SUPPORTED = 1 << 3;
/** No CMOS RTC at 0x70/0x71 (the guest's clock is kvm-clock). */
export const IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT = 1 << 5;

/** Hypervisor vendor identity (8 bytes, ACPI 6.0+), tells the guest which VMM built the tables. */
export const FADT_HYPERVISOR_VENDOR = 'KQUBESVM';

/** The flags and boot-architecture bits we advertise. */
export const FADT_FLAGS = FADT_F_HW_REDUCED_ACPI | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP;
export const FADT_IAPC_BOOT_ARCH = IAPC_BOOT_ARCH_8042 | IAPC_BOOT_ARCH_VGA_NOT_PRESENT | IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT;

/**
 * The FADT. dsdtAddr goes in both DSDT (32-bit) and X_DSDT (64-bit); they must agree when both are set, and our
 * tables sit below 1 MiB. The reset register is the i8042 command port with the CPU-reset command, so a plain
 * `reboot` (ACPI method) resets the guest the same way reboot=k does. No FACS: hardware-reduced ACPI needs none.
 */
export function buildFadt(dsdtAddr: number): Uint8Array {
  const body = new Uint8Array(FADT_SIZE - SDT_HEADER_SIZE);
  const view = new DataView(body.buffer);
  const at = (tableOffset: number): number => tableOffset - SDT_HEADER_SIZE;
  view.setUint32(at(FADT_DSDT_OFFSET), dsdtAddr, true);
  view.setUint16(at(FADT_IAPC_BOOT_ARCH_OFFSET), FADT_IAPC_BOOT_ARCH, true);
  view.setUint32(at(FADT_FLAGS_OFFSET), FADT_FLAGS, true);
  writeGas(view, at(FADT_RESET_REG_OFFSET), ioPortByte(I8042_COMMAND_PORT));
  view.setUint8(at(FADT_RESET_VALUE_OFFSET), CMD_RESET_CPU);
  view.setUint8(at(FADT_MINOR_REVISION_OFFSET), FADT_MINOR_REVISION);
  view.setBigUint64(at(FADT_X_DSDT_OFFSET), BigInt(dsdtAddr), true);
  writeGas(view, at(FADT_SLEEP_CONTROL_REG_OFFSET), ioPortByte(ACPI_SLEEP_CONTROL_PORT));
  writeGas(view, at(FADT_SLEEP_STATUS_REG_OFFSET), ioPortByte(ACPI_SLEEP_STATUS_PORT));
  writeAscii(body, at(FADT_HYPERVISOR_VENDOR_OFFSET), FADT_HYPERVISOR_VENDOR, 8);
  return buildSdt(FADT_SIGNATURE, FADT_REVISION, 'QVMMFACP', body);
}
