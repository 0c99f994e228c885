// Writes an Intel MultiProcessor Specification 1.4 table so Linux finds every vCPU and the IO-APIC without ACPI.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { IOAPIC_PINS, IOAPIC_START, LAPIC_START, MAX_VCPUS, MPTABLE_MAX_SIZE, MPTABLE_START } from './layout.js';

/** MP spec revision 1.4. */
const MP_SPEC_REV = 4;
/** Local and IO APIC version we advertise (an integrated xAPIC). */
export const MP_APIC_VERSION = 0x14;

// Floating pointer structure ("_MP_"), 16 bytes.
const MPF_SIGNATURE = '_MP_';
export const MPF_SIZE = 16;
const MPF_PHYSPTR = 4;
const MPF_LENGTH = 8; // in 16-byte paragraphs
const MPF_SPEC = 9;
const MPF_CHECKSUM = 10;

// Configuration table header ("PCMP"), 44 bytes.
const MPC_SIGNATURE = 'PCMP';
export const MPC_HEADER_SIZE = 44;
const MPC_LENGTH = 4;
const MPC_SPEC = 6;
const MPC_CHECKSUM = 7;
const MPC_OEM = 8;
const MPC_OEM_ID = 'KQUBES  ';
const MPC_PRODUCT = 16;
const MPC_PRODUCT_ID = 'QVMM        ';
const MPC_OEMCOUNT = 34;
const MPC_LAPIC = 36;

// Entry types and sizes.
export const MP_PROCESSOR = 0;
export const MP_BUS = 1;
export const MP_IOAPIC = 2;
export const MP_INTSRC = 3;
export const MP_LINTSRC = 4;
export const MP_PROCESSOR_SIZE = 20;
export const MP_OTHER_ENTRY_SIZE = 8;

const CPU_ENABLED = 0x1;
const CPU_BOOTPROCESSOR = 0x2;
/** Processor signature: family 6, model 0, stepping 0 (the kernel only logs it). */
const CPU_SIGNATURE = 0x600;
/** CPUID.1:EDX feature flags: FPU and on-chip APIC. */
const CPU_FEATURE_FPU = 1 << 0;
const CPU_FEATURE_APIC = 1 << 9;
const MPC_APIC_USABLE = 0x1;
const BUS_TYPE_ISA = 'ISA   ';
const ISA_BUS_ID = 0;
/** Interrupt types of I/O and local interrupt entries. */
const MP_IRQ_TYPE_INT = 0;
const MP_IRQ_TYPE_NMI = 1;
const MP_IRQ_TYPE_EXTINT = 3;
/** Polarity and trigger "conforms to bus" (edge, active high for ISA). */
const MP_IRQ_FLAGS_DEFAULT = 0;
/** Local interrupt destination meaning every local APIC. */
const MP_ALL_LAPICS = 0xff;

/** Bytes the MP table needs for `vcpus` processors. */
export function mptableSize(vcpus: number): number {
  const entries = MP_PROCESSOR_SIZE * vcpus + MP_OTHER_ENTRY_SIZE * (1 /* bus */ + 1 /* ioapic */ + IOAPIC_PINS + 2 /* lint */);
  return MPF_SIZE + MPC_HEADER_SIZE + entries;
}

/** The IO-APIC id: one past the last local APIC id (vCPU ids are 0..vcpus-1). */
export function ioapicId(vcpus: number): number {
  return vcpus;
}

function putAscii(buf: Uint8Array, off: number, s: string): void {
  for (let i = 0; i < s.length; i++) buf[off + i] = s.charCodeAt(i);
}

/** The byte that makes the bytes of `buf` sum to 0 mod 256 (given the checksum byte itself is 0). */
function checksum(buf: Uint8Array): number {
  let sum = 0;
  for (const b of buf) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** Writes the MP floating pointer and configuration table at MPTABLE_START; returns the bytes written. */
export function writeMptable(mem: GuestMemory, vcpus: number): number {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) {
    throw new BootError(`vCPU count ${vcpus} out of range 1..${MAX_VCPUS}`);
  }
  const size = mptableSize(vcpus);
  if (size > MPTABLE_MAX_SIZE) throw new BootError(`MP table (${size} bytes) does not fit in the EBDA (${MPTABLE_MAX_SIZE} bytes)`);
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  const tableAddr = MPTABLE_START + MPF_SIZE;

  // Floating pointer.
  putAscii(buf, 0, MPF_SIGNATURE);
  view.setUint32(MPF_PHYSPTR, tableAddr, true);
  buf[MPF_LENGTH] = MPF_SIZE / 16;
  buf[MPF_SPEC] = MP_SPEC_REV;
  buf[MPF_CHECKSUM] = checksum(buf.subarray(0, MPF_SIZE));

  // Configuration table entries, after its header.
  const table = buf.subarray(MPF_SIZE);
  const tview = new DataView(table.buffer, table.byteOffset, table.byteLength);
  let off = MPC_HEADER_SIZE;
  let count = 0;
  for (let cpu = 0; cpu < vcpus; cpu++) {
    table[off] = MP_PROCESSOR;
    table[off + 1] = cpu; // local APIC id = vCPU id
    table[off + 2] = MP_APIC_VERSION;
    table[off + 3] = CPU_ENABLED | (cpu === 0 ? CPU_BOOTPROCESSOR : 0);
    tview.setUint32(off + 4, CPU_SIGNATURE, true);
    tview.setUint32(off + 8, CPU_FEATURE_APIC | CPU_FEATURE_FPU, true);
    off += MP_PROCESSOR_SIZE;
    count++;
  }
  table[off] = MP_BUS;
  table[off + 1] = ISA_BUS_ID;
  putAscii(table, off + 2, BUS_TYPE_ISA);
  off += MP_OTHER_ENTRY_SIZE;
  count++;
  const ioapic = ioapicId(vcpus);
  table[off] = MP_IOAPIC;
  table[off + 1] = ioapic;
  table[off + 2] = MP_APIC_VERSION;
  table[off + 3] = MPC_APIC_USABLE;
  tview.setUint32(off + 4, IOAPIC_START, true);
  off += MP_OTHER_ENTRY_SIZE;
  count++;
  // ISA IRQ n -> IO-APIC pin n, for every pin.
  for (let irq = 0; irq < IOAPIC_PINS; irq++) {
    writeIntEntry(table, tview, off, MP_INTSRC, MP_IRQ_TYPE_INT, irq, ioapic, irq);
    off += MP_OTHER_ENTRY_SIZE;
    count++;
  }
  // The legacy PIC arrives as ExtINT on LINT0 of the BSP; NMI on LINT1 of every local APIC.
  writeIntEntry(table, tview, off, MP_LINTSRC, MP_IRQ_TYPE_EXTINT, 0, 0, 0);
  off += MP_OTHER_ENTRY_SIZE;
  writeIntEntry(table, tview, off, MP_LINTSRC, MP_IRQ_TYPE_NMI, 0, MP_ALL_LAPICS, 1);
  off += MP_OTHER_ENTRY_SIZE;
  count += 2;

  // Header last, with the length and count now known.
  putAscii(table, 0, MPC_SIGNATURE);
  tview.setUint16(MPC_LENGTH, off, true);
  table[MPC_SPEC] = MP_SPEC_REV;
  putAscii(table, MPC_OEM, MPC_OEM_ID);
  putAscii(table, MPC_PRODUCT, MPC_PRODUCT_ID);
  tview.setUint16(MPC_OEMCOUNT, count, true);
  tview.setUint32(MPC_LAPIC, LAPIC_START, true);
  table[MPC_CHECKSUM] = checksum(table);

  mem.write(MPTABLE_START, buf);
  return size;
}

/** An I/O (MP_INTSRC) or local (MP_LINTSRC) interrupt assignment entry; both share this 8-byte layout. */
function writeIntEntry(
  table: Uint8Array, view: DataView, off: number, entryType: number, irqType: number, srcIrq: number, dstApic: number, dstPin: number,
): void {
  table[off] = entryType;
  table[off + 1] = irqType;
  view.setUint16(off + 2, MP_IRQ_FLAGS_DEFAULT, true);
  table[off + 4] = ISA_BUS_ID;
  table[off + 5] = srcIrq;
  table[off + 6] = dstApic;
  table[off + 7] = dstPin;
}
