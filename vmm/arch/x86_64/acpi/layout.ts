// Where the ACPI tables and the ACPI sleep registers live in the guest: addresses, sizes and the I/O ports.

/**
 * Start of the BIOS read-only area that Linux scans (16-byte steps) for the RSDP when no bootloader hands it
 * over: 0xE0000..0xFFFFF. The RSDP sits at its start (Firecracker's RSDP_ADDR too); the other tables follow it.
 */
export const ACPI_AREA_START = 0xe_0000;
/** End (exclusive) of that area: 1 MiB. e820 already reports 0x9fc00..1 MiB as reserved, which covers it. */
export const ACPI_AREA_END = 0x10_0000;
/** Guest-physical address of the RSDP: 16-byte aligned, inside the scanned area. */
export const RSDP_ADDR = ACPI_AREA_START;
/** Alignment of each table after the RSDP (the RSDP scan needs 16; 16 keeps every table naturally aligned). */
export const ACPI_TABLE_ALIGN = 16;

/**
 * The hardware-reduced ACPI sleep registers (FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG), one byte each in
 * system I/O space. 0x600 is free on our machine (no PCI, no chipset PM block; QEMU's Q35 uses 0x600 for its PM
 * block, which we don't emulate) and is nowhere near the legacy ports Linux probes.
 */
export const ACPI_SLEEP_CONTROL_PORT = 0x600;
/** The sleep status register, right after the control register. */
export const ACPI_SLEEP_STATUS_PORT = 0x601;
/** Ports claimed on the PIO bus by the sleep device: control and status, from ACPI_SLEEP_CONTROL_PORT. */
export const ACPI_SLEEP_PORT_LEN = 2;

/**
 * SLP_TYP value of the S5 (soft off) state: the first element of the DSDT's \_S5_ package, which Linux writes
 * into SLEEP_CONTROL_REG bits 2..4 to power off. 5, as cloud-hypervisor uses.
 */
export const ACPI_S5_SLEEP_TYPE = 5;
