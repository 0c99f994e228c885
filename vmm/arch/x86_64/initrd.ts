// Places the initrd: the highest page-aligned spot in low RAM that the kernel allows and that misses the kernel.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { HIMEM_START, PAGE_SIZE } from './layout.js';
import { alignDown, type LoadedKernel } from './loaded-kernel.js';

export interface InitrdPlacement {
  readonly addr: number;
  readonly size: number;
}

/** End of the RAM region holding 1 MiB: the kernel and initrd live below the MMIO gap. */
export function lowRamEnd(mem: GuestMemory): number {
  const low = mem.regions.find((r) => HIMEM_START >= r.start && HIMEM_START < r.start + r.size);
  if (!low) throw new BootError('guest memory has no RAM at 1 MiB');
  return low.start + low.size;
}

/** Writes `initrd` as high as allowed (below initrd_addr_max and the end of low RAM) above the kernel. */
export function loadInitrd(mem: GuestMemory, kernel: LoadedKernel, initrd: Uint8Array): InitrdPlacement {
  const size = initrd.length;
  if (size === 0) throw new BootError('initrd is empty');
  const limit = Math.min(kernel.initrdAddrMax + 1, lowRamEnd(mem));
  const addr = alignDown(limit - size, PAGE_SIZE);
  if (addr < kernel.kernelEnd || !mem.isValidRange(addr, size)) {
    throw new BootError(
      `initrd (${size} bytes) does not fit in guest memory: it must lie between the kernel end ` +
        `0x${kernel.kernelEnd.toString(16)} and 0x${limit.toString(16)}`,
    );
  }
  mem.write(addr, initrd);
  return { addr, size };
}
