// Loads a Linux kernel image into guest memory, choosing the loader by the file's magic (ELF vmlinux or bzImage).
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { isElf, loadElfKernel } from './loader-elf.js';
import { isBzImage, loadBzImageKernel } from './loader-bzimage.js';
import type { LoadedKernel } from './loaded-kernel.js';

export type { LoadedKernel, KernelKind } from './loaded-kernel.js';

/** Loads `bytes` (read from the kernel file by the caller) into `mem`. */
export function loadKernel(mem: GuestMemory, bytes: Uint8Array): LoadedKernel {
  if (isElf(bytes)) return loadElfKernel(mem, bytes);
  if (isBzImage(bytes)) return loadBzImageKernel(mem, bytes);
  throw new BootError('kernel is neither an ELF x86-64 vmlinux nor a bzImage');
}
