// writeAcpiTables: builds RSDP, XSDT, FADT, DSDT and MADT and places them in the guest's BIOS area below 1 MiB.
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { MAX_VCPUS } from '../layout.js';
import { type AcpiVirtioMmioDevice, buildDsdt } from './dsdt.js';
import { AcpiError } from './errors.js';
import { buildFadt } from './fadt.js';
import { ACPI_AREA_END, ACPI_AREA_START, ACPI_TABLE_ALIGN, RSDP_ADDR } from './layout.js';
import { MADT_MAX_APIC_ID, buildMadt } from './madt.js';
import { RSDP_SIZE, buildRsdp } from './rsdp.js';
import { buildXsdt } from './xsdt.js';

export interface AcpiConfig {
  /** number of vCPUs; vCPU i has APIC id i */
  readonly vcpus: number;
  /** virtio-mmio devices to describe in the DSDT (index i becomes \\_SB_.V00i); none when absent */
  readonly virtioMmio?: readonly AcpiVirtioMmioDevice[];
  /** describe the COM1 UART in the DSDT (default true; the guest needs it for a working IRQ 4) */
  readonly serial?: boolean;
  /** describe the i8042 in the DSDT (default true) */
  readonly i8042?: boolean;
}

/** Where each table went (guest-physical addresses), and the end of the used part of the area. */
export interface AcpiLayout {
  readonly rsdpAddr: number;
  readonly xsdtAddr: number;
  readonly fadtAddr: number;
  readonly dsdtAddr: number;
  readonly madtAddr: number;
  /** first byte after the last table */
  readonly end: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Writes the tables into guest memory: the RSDP at RSDP_ADDR (0xE0000), where Linux's scan of 0xE0000..0xFFFFF
 * finds it without a bootloader hint, then DSDT, FADT, MADT and XSDT, each 16-byte aligned, all inside
 * ACPI_AREA_START..ACPI_AREA_END (reserved in e820). The returned rsdpAddr may also go in the zero page's
 * acpi_rsdp_addr field (offset 0x070). Throws AcpiError when the vCPU count is out of range or guest RAM does
 * not cover the area.
 */
export function writeAcpiTables(mem: GuestMemory, cfg: AcpiConfig): AcpiLayout {
  const limit = Math.min(MAX_VCPUS, MADT_MAX_APIC_ID + 1);
  if (!Number.isInteger(cfg.vcpus) || cfg.vcpus < 1 || cfg.vcpus > limit) {
    throw new AcpiError(`ACPI tables: vCPU count ${cfg.vcpus} out of range 1..${limit}`);
  }
  let next = alignUp(RSDP_ADDR + RSDP_SIZE, ACPI_TABLE_ALIGN);
  const place = (what: string, table: Uint8Array): number => {
    const addr = next;
    if (addr + table.length > ACPI_AREA_END) {
      throw new AcpiError(`ACPI tables: ${what} (${table.length} bytes at 0x${addr.toString(16)}) does not fit below 0x${ACPI_AREA_END.toString(16)}`);
    }
    put(mem, what, addr, table);
    next = alignUp(addr + table.length, ACPI_TABLE_ALIGN);
    return addr;
  };
  const dsdtAddr = place('DSDT', buildDsdt({ serial: cfg.serial ?? true, i8042: cfg.i8042 ?? true, virtioMmio: cfg.virtioMmio ?? [] }));
  const fadtAddr = place('FADT', buildFadt(dsdtAddr));
  const madtAddr = place('MADT', buildMadt(cfg.vcpus));
  const xsdtAddr = place('XSDT', buildXsdt([fadtAddr, madtAddr]));
  put(mem, 'RSDP', RSDP_ADDR, buildRsdp(xsdtAddr));
  return { rsdpAddr: RSDP_ADDR, xsdtAddr, fadtAddr, dsdtAddr, madtAddr, end: next };
}

function put(mem: GuestMemory, what: string, addr: number, bytes: Uint8Array): void {
  if (addr < ACPI_AREA_START || !mem.isValidRange(addr, bytes.length)) {
    throw new AcpiError(`ACPI tables: guest RAM does not hold the ${what} at 0x${addr.toString(16)} (+${bytes.length})`);
  }
  mem.write(addr, bytes);
}
