// ACPI resource descriptors (ACPI 6.5 section 6.4) for _CRS: fixed 32-bit memory ranges, interrupts, end tag.
import { amlBuffer, concat } from './aml.js';
import { AcpiError } from './errors.js';

/** Large resource item names (with bit 7 set, as they appear in the first byte). */
export const RES_MEMORY32_FIXED = 0x86;
export const RES_EXTENDED_INTERRUPT = 0x89;
/** Small resource I/O port descriptor: item name 0x8, length 7. */
export const RES_IO_PORT = 0x47;
/** I/O descriptor information: the device decodes all 16 address bits. */
export const RES_IO_DECODE16 = 1 << 0;
/** Small resource End Tag: item name 0xF, length 1: 0x79, then a checksum byte (0 means "not checked"). */
export const RES_END_TAG = 0x79;

/** Memory32Fixed information byte: the range is writable. */
export const RES_MEMORY_READ_WRITE = 1 << 0;
/** Extended interrupt flags. */
export const RES_INT_CONSUMER = 1 << 0;
export const RES_INT_EDGE = 1 << 1;
export const RES_INT_ACTIVE_LOW = 1 << 2;
export const RES_INT_SHARED = 1 << 3;

const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

function checkU32(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new AcpiError(`ACPI resource ${what} 0x${v.toString(16)} is not a 32-bit value`);
}

/** Memory32Fixed (ReadWrite, base, length): 12 bytes. */
export function memory32Fixed(base: number, length: number): Uint8Array {
  checkU32('base', base);
  checkU32('length', length);
  return Uint8Array.of(RES_MEMORY32_FIXED, 9, 0, RES_MEMORY_READ_WRITE, ...u32(base), ...u32(length));
}

/** IO (Decode16, base, base, 1, length): a fixed range of `length` I/O ports; 8 bytes. */
export function ioPorts(base: number, length: number): Uint8Array {
  if (!Number.isInteger(base) || base < 0 || base > 0xffff || !Number.isInteger(length) || length < 1 || length > 0xff || base + length > 0x10000) {
    throw new AcpiError(`ACPI resource: bad I/O range 0x${base.toString(16)} + ${length}`);
  }
  return Uint8Array.of(RES_IO_PORT, RES_IO_DECODE16, base & 0xff, base >> 8, base & 0xff, base >> 8, 1, length);
}

/** Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi }: 9 bytes, what a KVM irqfd line is. */
export function edgeInterrupt(gsi: number): Uint8Array {
  checkU32('interrupt', gsi);
  return Uint8Array.of(RES_EXTENDED_INTERRUPT, 6, 0, RES_INT_CONSUMER | RES_INT_EDGE, 1, ...u32(gsi));
}

/** ResourceTemplate () { descriptors }: a Buffer holding the descriptors and the End Tag. */
export function resourceTemplate(descriptors: readonly Uint8Array[]): Uint8Array {
  return amlBuffer(concat([...descriptors, Uint8Array.of(RES_END_TAG, 0)]));
}
