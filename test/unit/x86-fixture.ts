// Shared by the x86-*.test.ts files: finds the real Debian kernel, reads kernel headers, walks page tables.
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from '../../images/cache-dir.js';
import type { GuestMemory } from '../../vmm/memory/guest-memory.js';

export interface TestKernelFiles {
  vmlinuz?: string;
  vmlinux?: string;
}

/** The newest kernel directory under <cache>/kernel, by modification time. */
function newestCachedKernelDir(): string | undefined {
  const root = path.join(cacheDir(), 'kernel');
  let dirs: string[];
  try {
    dirs = fs.readdirSync(root).map((d) => path.join(root, d)).filter((d) => fs.statSync(d).isDirectory());
  } catch {
    return undefined;
  }
  dirs.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return dirs[0];
}

function existing(p: string | undefined): string | undefined {
  return p && fs.existsSync(p) ? p : undefined;
}

/** The real kernel files: $KQUBES_TEST_VMLINUZ / $KQUBES_TEST_VMLINUX, else the newest cached Debian kernel. */
export function findTestKernel(): TestKernelFiles {
  const dir = newestCachedKernelDir();
  let vmlinuz = existing(process.env.KQUBES_TEST_VMLINUZ);
  let vmlinux = existing(process.env.KQUBES_TEST_VMLINUX);
  if (dir) {
    if (!vmlinuz) {
      const boot = path.join(dir, 'boot');
      const inBoot = fs.existsSync(boot) ? fs.readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
      vmlinuz = existing(path.join(dir, 'vmlinuz')) ?? (inBoot ? path.join(boot, inBoot) : undefined);
    }
    vmlinux ??= existing(path.join(dir, 'vmlinux'));
  }
  return { ...(vmlinuz ? { vmlinuz } : {}), ...(vmlinux ? { vmlinux } : {}) };
}

export const NO_KERNEL_REASON =
  'no Debian kernel: set KQUBES_TEST_VMLINUZ/KQUBES_TEST_VMLINUX or run the images build (ensureKernel) to fill the cache';

export interface ElfLoad {
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
}

/** PT_LOAD headers of an ELF64 file, read straight from the spec layout (the test's own oracle). */
export function elfLoads(bytes: Uint8Array): { entry: bigint; loads: ElfLoad[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(v.getBigUint64(0x20, true));
  const phnum = v.getUint16(0x38, true);
  const loads: ElfLoad[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * 56;
    if (v.getUint32(ph, true) !== 1) continue;
    loads.push({
      offset: Number(v.getBigUint64(ph + 8, true)),
      vaddr: v.getBigUint64(ph + 16, true),
      paddr: Number(v.getBigUint64(ph + 24, true)),
      filesz: Number(v.getBigUint64(ph + 32, true)),
      memsz: Number(v.getBigUint64(ph + 40, true)),
    });
  }
  return { entry: v.getBigUint64(0x18, true), loads };
}

/**
 * Translates a virtual address through 4-level x86-64 page tables in guest memory (4 KiB, 2 MiB and 1 GiB
 * pages), as the MMU would; undefined when not present.
 */
export function translate(mem: GuestMemory, cr3: number, vaddr: number): number | undefined {
  const ADDR_MASK = 0x000f_ffff_ffff_f000n;
  let table = BigInt(cr3) & ADDR_MASK;
  const va = BigInt(vaddr);
  for (let level = 4; level >= 1; level--) {
    const shift = BigInt(12 + 9 * (level - 1));
    const index = (va >> shift) & 0x1ffn;
    const entry = mem.readU64(Number(table + index * 8n));
    if ((entry & 1n) === 0n) return undefined;
    const isLarge = (level === 2 || level === 3) && (entry & 0x80n) !== 0n;
    if (level === 1 || isLarge) {
      const pageMask = (1n << shift) - 1n;
      return Number(((entry & ADDR_MASK) & ~pageMask) | (va & pageMask));
    }
    table = entry & ADDR_MASK;
  }
  return undefined;
}

/** Sum of bytes mod 256 (0 for a correct MP-table checksum). */
export function byteSum(b: Uint8Array): number {
  let s = 0;
  for (const x of b) s = (s + x) & 0xff;
  return s;
}

/** tap subtest options: skipped, with the reason, when any of the kernel files is missing. */
export function needs(...files: Array<string | undefined>): { skip: string | false } {
  return { skip: files.every((f) => f !== undefined) ? false : NO_KERNEL_REASON };
}
