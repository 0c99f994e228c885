// Loads a bzImage: parses the setup header and copies the protected-mode kernel to 1 MiB (64-bit boot protocol).
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { HIMEM_START, PAGE_SIZE } from './layout.js';
import {
  HDR_CMDLINE_SIZE, HDR_INIT_SIZE, HDR_INITRD_ADDR_MAX, HDR_JUMP_OFFSET, HDR_KERNEL_ALIGNMENT, HDR_LOADFLAGS,
  HDR_MAGIC, HDR_MAGIC_VALUE, HDR_MIN_END, HDR_PREF_ADDRESS, HDR_RELOCATABLE_KERNEL, HDR_SETUP_SECTS, HDR_START,
  HDR_VERSION, HDR_XLOADFLAGS, KERNEL_64_ENTRY_OFFSET, LOADFLAG_LOADED_HIGH, XLF_KERNEL_64,
} from './boot-params.js';
import { alignUp, type LoadedKernel } from './loaded-kernel.js';

/** Boot protocol 2.12 introduced xloadflags, which is how a kernel says it has a 64-bit entry point. */
const MIN_PROTOCOL_VERSION = 0x020c;
const SECTOR_SIZE = 512;
/** setup_sects value 0 means 4 (very old kernels). */
const DEFAULT_SETUP_SECTS = 4;
/** The setup header may not run past this offset: boot_params fields follow it (struct boot_params._pad7). */
const HDR_MAX_END = 0x290;

/** True when the file carries a boot-protocol setup header ("HdrS" at 0x202). */
export function isBzImage(bytes: Uint8Array): boolean {
  if (bytes.length < HDR_MAGIC + 4) return false;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(HDR_MAGIC, true) === HDR_MAGIC_VALUE;
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/** Parses and loads a bzImage at HIMEM_START; its entry is the 64-bit entry startup_64 at load + 0x200. */
export function loadBzImageKernel(mem: GuestMemory, bytes: Uint8Array): LoadedKernel {
  if (bytes.length < HDR_MIN_END || !isBzImage(bytes)) throw new BootError('bzImage: no "HdrS" setup header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(HDR_VERSION, true);
  if (version < MIN_PROTOCOL_VERSION) {
    throw new BootError(`bzImage: boot protocol ${version >> 8}.${version & 0xff} is older than 2.12 (no 64-bit entry)`);
  }
  const loadflags = view.getUint8(HDR_LOADFLAGS);
  if (!(loadflags & LOADFLAG_LOADED_HIGH)) throw new BootError('bzImage: not a high-loaded kernel (LOADED_HIGH clear)');
  const xloadflags = view.getUint16(HDR_XLOADFLAGS, true);
  if (!(xloadflags & XLF_KERNEL_64)) throw new BootError('bzImage: kernel has no 64-bit entry point (XLF_KERNEL_64 clear)');

  const setupSects = view.getUint8(HDR_SETUP_SECTS) || DEFAULT_SETUP_SECTS;
  const pmOffset = (setupSects + 1) * SECTOR_SIZE;
  if (pmOffset >= bytes.length) throw new BootError(`bzImage: setup (${setupSects} sectors) leaves no protected-mode kernel`);
  const pmSize = bytes.length - pmOffset;
  const hdrEnd = Math.min(HDR_JUMP_OFFSET + 1 + view.getUint8(HDR_JUMP_OFFSET), HDR_MAX_END, pmOffset);
  if (hdrEnd < HDR_MIN_END) throw new BootError(`bzImage: setup header ends at ${hex(hdrEnd)}, before init_size`);

  const kernelAlignment = view.getUint32(HDR_KERNEL_ALIGNMENT, true);
  const relocatable = view.getUint8(HDR_RELOCATABLE_KERNEL) !== 0;
  const prefAddress = view.getBigUint64(HDR_PREF_ADDRESS, true);
  const initSize = view.getUint32(HDR_INIT_SIZE, true);
  if (prefAddress > BigInt(Number.MAX_SAFE_INTEGER)) throw new BootError(`bzImage: pref_address ${hex(prefAddress)} out of range`);
  if (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0) {
    throw new BootError(`bzImage: kernel_alignment ${hex(kernelAlignment)} is not a power of two`);
  }

  // The decompressor runs in place at the load address and writes the kernel where it will run: a relocatable
  // kernel at the load address rounded up to kernel_alignment but no lower than pref_address (its
  // LOAD_PHYSICAL_ADDR), a fixed one at pref_address; from there it needs init_size bytes.
  const loadAddr = HIMEM_START;
  const pref = Number(prefAddress);
  const runAddr = relocatable ? Math.max(alignUp(loadAddr, kernelAlignment), pref) : pref;
  const kernelEnd = alignUp(Math.max(loadAddr + pmSize, runAddr + initSize), PAGE_SIZE);
  if (!mem.isValidRange(loadAddr, kernelEnd - loadAddr)) {
    throw new BootError(`kernel does not fit in guest memory: bzImage needs ${hex(loadAddr)}..${hex(kernelEnd)} in RAM`);
  }
  mem.write(loadAddr, bytes.subarray(pmOffset));

  return {
    kind: 'bzimage',
    entry: loadAddr + KERNEL_64_ENTRY_OFFSET,
    loadAddr,
    kernelEnd,
    setupHeader: bytes.slice(HDR_START, hdrEnd),
    initrdAddrMax: view.getUint32(HDR_INITRD_ADDR_MAX, true),
    cmdlineMax: view.getUint32(HDR_CMDLINE_SIZE, true),
  };
}
