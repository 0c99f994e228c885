// Builds struct boot_params (the zero page): the setup header, command line and initrd pointers, and the e820 map.
import type { GuestMemory } from '../../memory/guest-memory.js';
import {
  BOOT_FLAG_VALUE, BP_E820_ENTRIES, BP_E820_TABLE, BP_EXT_CMD_LINE_PTR, BP_EXT_RAMDISK_IMAGE, BP_EXT_RAMDISK_SIZE,
  E820_ENTRY_SIZE, E820_MAX_ENTRIES, HDR_BOOT_FLAG, HDR_CMD_LINE_PTR, HDR_CMDLINE_SIZE, HDR_CODE32_START, HDR_HEAP_END_PTR,
  HDR_KERNEL_ALIGNMENT, HDR_LOADFLAGS, HDR_MAGIC, HDR_MAGIC_VALUE, HDR_RAMDISK_IMAGE, HDR_RAMDISK_SIZE, HDR_START,
  HDR_TYPE_OF_LOADER, HEAP_END_PTR_VALUE, LOADER_TYPE_UNDEFINED, LOADFLAG_CAN_USE_HEAP, LOADFLAG_KEEP_SEGMENTS,
  LOADFLAG_LOADED_HIGH,
} from './boot-params.js';
import { BootError } from './errors.js';
import type { E820Entry } from './e820.js';
import { KERNEL_MIN_ALIGNMENT, ZERO_PAGE_SIZE } from './layout.js';
import type { LoadedKernel } from './loaded-kernel.js';

export interface ZeroPageParams {
  readonly kernel: LoadedKernel;
  /** Guest-physical address of the NUL-terminated command line. */
  readonly cmdlineAddr: number;
  readonly initrd?: { readonly addr: number; readonly size: number };
  readonly e820: readonly E820Entry[];
}

const U32_LIMIT = 2 ** 32;
const lo32 = (n: number): number => n % U32_LIMIT;
const hi32 = (n: number): number => Math.floor(n / U32_LIMIT);

/** Writes boot_params at `addr` (zeroed first). */
export function writeZeroPage(mem: GuestMemory, addr: number, p: ZeroPageParams): void {
  if (p.e820.length > E820_MAX_ENTRIES) throw new BootError(`e820 map has ${p.e820.length} entries, more than ${E820_MAX_ENTRIES}`);
  mem.fill(addr, ZERO_PAGE_SIZE, 0);
  const at = (off: number): number => addr + off;
  if (p.kernel.setupHeader) {
    // bzImage: the kernel's own header, so fields such as version, xloadflags and cmdline_size reach it unchanged.
    mem.write(at(HDR_START), p.kernel.setupHeader);
    mem.writeU32(at(HDR_CODE32_START), p.kernel.loadAddr);
  } else {
    // ELF vmlinux has no header: synthesize the fields the kernel reads.
    mem.writeU32(at(HDR_MAGIC), HDR_MAGIC_VALUE);
    mem.writeU32(at(HDR_KERNEL_ALIGNMENT), KERNEL_MIN_ALIGNMENT);
    mem.writeU32(at(HDR_CMDLINE_SIZE), p.kernel.cmdlineMax);
  }
  mem.writeU16(at(HDR_BOOT_FLAG), BOOT_FLAG_VALUE);
  mem.writeU8(at(HDR_TYPE_OF_LOADER), LOADER_TYPE_UNDEFINED);
  const loadflags = mem.readU8(at(HDR_LOADFLAGS));
  mem.writeU8(at(HDR_LOADFLAGS), loadflags | LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP | LOADFLAG_KEEP_SEGMENTS);
  mem.writeU16(at(HDR_HEAP_END_PTR), HEAP_END_PTR_VALUE);
  mem.writeU32(at(HDR_CMD_LINE_PTR), lo32(p.cmdlineAddr));
  mem.writeU32(at(BP_EXT_CMD_LINE_PTR), hi32(p.cmdlineAddr));
  if (p.initrd) {
    mem.writeU32(at(HDR_RAMDISK_IMAGE), lo32(p.initrd.addr));
    mem.writeU32(at(BP_EXT_RAMDISK_IMAGE), hi32(p.initrd.addr));
    mem.writeU32(at(HDR_RAMDISK_SIZE), lo32(p.initrd.size));
    mem.writeU32(at(BP_EXT_RAMDISK_SIZE), hi32(p.initrd.size));
  }
  mem.writeU8(at(BP_E820_ENTRIES), p.e820.length);
  p.e820.forEach((e, i) => {
    const entry = at(BP_E820_TABLE + i * E820_ENTRY_SIZE);
    mem.writeU64(entry, BigInt(e.addr));
    mem.writeU64(entry + 8, BigInt(e.size));
    mem.writeU32(entry + 16, e.type);
  });
}
