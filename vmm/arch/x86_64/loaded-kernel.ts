// LoadedKernel: what a kernel loader reports once the kernel image is in guest memory.

export type KernelKind = 'elf' | 'bzimage';

export interface LoadedKernel {
  readonly kind: KernelKind;
  /** Guest-physical address of the 64-bit entry point (rip at boot). */
  readonly entry: number;
  /** Lowest guest-physical address the image was written to. */
  readonly loadAddr: number;
  /** First page-aligned address past all memory the kernel claims while it starts (image, bss, init_size). */
  readonly kernelEnd: number;
  /** bzImage only: a private copy of the file's setup header, bytes 0x1f1 up to its end. */
  readonly setupHeader?: Uint8Array;
  /** Highest address (inclusive) the initrd may occupy. */
  readonly initrdAddrMax: number;
  /** Longest command line the kernel accepts, not counting the NUL. */
  readonly cmdlineMax: number;
}

/** Rounds `n` up to a multiple of `align` (a power of two), in safe-integer arithmetic. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Rounds `n` down to a multiple of `align`. */
export function alignDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}
