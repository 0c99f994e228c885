// The e820 memory map handed to Linux: RAM regions split around the EBDA/BIOS area, which is reserved.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { E820_MAX_ENTRIES, E820_RAM, E820_RESERVED } from './boot-params.js';
import { EBDA_START, HIMEM_START } from './layout.js';

export interface E820Entry {
  readonly addr: number;
  readonly size: number;
  readonly type: typeof E820_RAM | typeof E820_RESERVED;
}

/**
 * One RAM entry per guest RAM range, with 0x9fc00..1 MiB (EBDA, VGA hole, option ROMs, BIOS) cut out and
 * reported reserved, so the kernel never allocates the MP table or legacy areas. Sorted by address.
 */
export function buildE820(mem: GuestMemory): E820Entry[] {
  const entries: E820Entry[] = [{ addr: EBDA_START, size: HIMEM_START - EBDA_START, type: E820_RESERVED }];
  for (const r of mem.regions) {
    const start = r.start as number;
    const end = start + r.size;
    // The part below the reserved window, and the part above it.
    if (start < EBDA_START) entries.push({ addr: start, size: Math.min(end, EBDA_START) - start, type: E820_RAM });
    if (end > HIMEM_START) {
      const from = Math.max(start, HIMEM_START);
      entries.push({ addr: from, size: end - from, type: E820_RAM });
    }
  }
  entries.sort((a, b) => a.addr - b.addr);
  if (entries.length > E820_MAX_ENTRIES) throw new BootError(`e820 map has ${entries.length} entries, more than ${E820_MAX_ENTRIES}`);
  return entries;
}
