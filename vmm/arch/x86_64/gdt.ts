// The boot GDT (null, 64-bit code, data, TSS) and the KVM segment each of its entries describes.
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { KvmSegment } from '../../kvm/types.js';
import { BOOT_GDT_ENTRIES, BOOT_GDT_START, BOOT_IDT_START } from './layout.js';

/** Access byte (low 8 bits) and flags nibble (bits 12..15) of a descriptor, as in Linux's GDT_ENTRY(flags, ...). */
export const GDT_FLAGS_CODE64 = 0xa09b; // G=1 L=1, present, DPL 0, code, execute/read, accessed
export const GDT_FLAGS_DATA = 0xc093; // G=1 D/B=1, present, DPL 0, data, read/write, accessed
export const GDT_FLAGS_TSS = 0x808b; // G=1, present, system, 64-bit TSS (busy)
/** Base 0, limit 0xfffff (4 GiB with G=1): segmentation is flat. */
const FLAT_LIMIT = 0xfffff;

/** GDT indices; the selector of entry i is i * 8 (RPL 0, GDT). */
export const GDT_NULL_INDEX = 0;
export const GDT_CODE_INDEX = 1;
export const GDT_DATA_INDEX = 2;
export const GDT_TSS_INDEX = 3;
export const GDT_ENTRY_SIZE = 8;

/** Encodes a segment descriptor from the flags word, base and 20-bit limit. */
export function gdtEntry(flags: number, base: number, limit: number): bigint {
  const b = BigInt(base >>> 0);
  const l = BigInt(limit >>> 0);
  const f = BigInt(flags & 0xf0ff);
  return ((b & 0xff000000n) << 32n) | ((b & 0x00ffffffn) << 16n) | (l & 0xffffn) | ((l & 0xf0000n) << 32n) | (f << 40n);
}

/** The descriptors we write at BOOT_GDT_START, in index order. */
export function bootGdt(): bigint[] {
  const gdt = [
    gdtEntry(0, 0, 0),
    gdtEntry(GDT_FLAGS_CODE64, 0, FLAT_LIMIT),
    gdtEntry(GDT_FLAGS_DATA, 0, FLAT_LIMIT),
    gdtEntry(GDT_FLAGS_TSS, 0, FLAT_LIMIT),
  ];
  if (gdt.length !== BOOT_GDT_ENTRIES) throw new Error('boot GDT size disagrees with layout');
  return gdt;
}

const bit = (e: bigint, n: number): number => Number((e >> BigInt(n)) & 1n);

/** The kvm_segment the CPU would load from descriptor `entry` at GDT index `index`. */
export function segmentFromGdt(entry: bigint, index: number): KvmSegment {
  const base = ((entry >> 16n) & 0xffffffn) | ((entry >> 32n) & 0xff000000n);
  const rawLimit = Number((entry & 0xffffn) | ((entry >> 32n) & 0xf0000n));
  const g = bit(entry, 55);
  const present = bit(entry, 47);
  return {
    base,
    // With G=1 the limit counts 4 KiB pages: the low 12 bits of the byte limit are all ones.
    limit: g ? ((rawLimit << 12) | 0xfff) >>> 0 : rawLimit,
    selector: index * GDT_ENTRY_SIZE,
    type: Number((entry >> 40n) & 0xfn),
    s: bit(entry, 44),
    dpl: Number((entry >> 45n) & 3n),
    present,
    avl: bit(entry, 52),
    l: bit(entry, 53),
    db: bit(entry, 54),
    g,
    unusable: present ? 0 : 1,
  };
}

/** Writes the boot GDT and a one-entry zero IDT (Linux loads its own IDT before it enables interrupts). */
export function writeGdtAndIdt(mem: GuestMemory): void {
  bootGdt().forEach((e, i) => mem.writeU64(BOOT_GDT_START + i * GDT_ENTRY_SIZE, e));
  mem.writeU64(BOOT_IDT_START, 0n);
}

/** gdtr limit: bytes of the table minus one. */
export const BOOT_GDT_LIMIT = BOOT_GDT_ENTRIES * GDT_ENTRY_SIZE - 1;
/** idtr limit: one 8-byte entry minus one. */
export const BOOT_IDT_LIMIT = 8 - 1;
