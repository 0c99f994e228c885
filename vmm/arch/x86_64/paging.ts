// Identity page tables for the 64-bit entry: PML4 -> PDPT -> PDE_COUNT page directories of 2 MiB pages.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { PAGE_SIZE, PDE_COUNT, PDE_START, PDPTE_START, PML4_START } from './layout.js';

export const PTE_PRESENT = 0x1n;
export const PTE_WRITABLE = 0x2n;
/** PS bit of a page-directory entry: it maps a 2 MiB page instead of pointing to a page table. */
export const PTE_PAGE_SIZE = 0x80n;
export const ENTRIES_PER_TABLE = 512;
export const LARGE_PAGE_SIZE = 2 * 1024 * 1024;
/** Bytes identity-mapped by the boot page tables (PDE_COUNT GiB). */
export const IDENTITY_MAPPED_BYTES = PDE_COUNT * ENTRIES_PER_TABLE * LARGE_PAGE_SIZE;

/** Writes the tables (all of their pages, zero where unused); returns the value for cr3. */
export function writeIdentityPageTables(mem: GuestMemory): number {
  mem.fill(PML4_START, PAGE_SIZE, 0);
  mem.fill(PDPTE_START, PAGE_SIZE, 0);
  mem.writeU64(PML4_START, BigInt(PDPTE_START) | PTE_PRESENT | PTE_WRITABLE);
  for (let d = 0; d < PDE_COUNT; d++) {
    const pd = PDE_START + d * PAGE_SIZE;
    mem.writeU64(PDPTE_START + d * 8, BigInt(pd) | PTE_PRESENT | PTE_WRITABLE);
    for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
      const phys = BigInt((d * ENTRIES_PER_TABLE + i) * LARGE_PAGE_SIZE);
      mem.writeU64(pd + i * 8, phys | PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE);
    }
  }
  return PML4_START;
}
