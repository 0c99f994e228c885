// Sets up guest memory for a Linux 64-bit boot: kernel, initrd, command line, zero page, MP table, GDT, page tables.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { buildE820 } from './e820.js';
import { writeGdtAndIdt } from './gdt.js';
import { loadInitrd } from './initrd.js';
import { loadKernel, type KernelKind } from './kernel.js';
import { CMDLINE_MAX_SIZE, CMDLINE_START, MAX_VCPUS, ZERO_PAGE_START } from './layout.js';
import { writeMptable } from './mptable.js';
import { writeIdentityPageTables } from './paging.js';
import { writeZeroPage } from './zero-page.js';

export { BootError } from './errors.js';
export { bootFpu, bootRegs, longModeSregs } from './regs.js';
export { bootMsrs } from './msrs.js';
export { vcpuCpuid } from './cpuid.js';
export { guestRegions } from './layout.js';

/** Smallest guest we set up: below this a stock kernel cannot even decompress itself. */
export const MIN_MEMORY_MIB = 64;
const MiB = 1024 * 1024;

export interface LinuxBootConfig {
  /** The kernel file's bytes: an ELF vmlinux or a bzImage. */
  kernel: Uint8Array;
  initrd?: Uint8Array;
  /** Kernel command line (ASCII; written NUL-terminated). */
  cmdline: string;
  vcpus: number;
}

export interface BootInfo {
  /** Guest-physical 64-bit entry point: rip of the boot vCPU. */
  entry: number;
  /** Guest-physical address of boot_params: rsi of the boot vCPU. */
  zeroPage: number;
  kernelKind: KernelKind;
  /** First page-aligned address past the memory the kernel claims. */
  kernelEnd: number;
  initrd?: { addr: number; size: number };
}

/** Encodes the command line, checked against the kernel's cmdline_size and our CMDLINE_MAX_SIZE; NUL appended. */
export function encodeCmdline(cmdline: string, kernelMax: number): Uint8Array {
  const text = Buffer.from(cmdline, 'utf8');
  if (text.includes(0)) throw new BootError('kernel command line contains a NUL byte');
  const max = Math.min(kernelMax, CMDLINE_MAX_SIZE - 1);
  if (text.length > max) throw new BootError(`kernel command line is ${text.length} bytes, longer than the ${max} the kernel accepts`);
  const out = new Uint8Array(text.length + 1);
  out.set(text);
  return out;
}

/** Writes everything a Linux guest needs before its boot vCPU runs; the vCPU registers come from regs.ts. */
export function setupLinuxBoot(mem: GuestMemory, cfg: LinuxBootConfig): BootInfo {
  const minBytes = MIN_MEMORY_MIB * MiB;
  if (mem.totalSize < minBytes) {
    throw new BootError(`guest memory too small: ${Math.floor(mem.totalSize / MiB)} MiB, Linux needs at least ${MIN_MEMORY_MIB} MiB`);
  }
  if (!Number.isInteger(cfg.vcpus) || cfg.vcpus < 1 || cfg.vcpus > MAX_VCPUS) {
    throw new BootError(`vCPU count ${cfg.vcpus} out of range 1..${MAX_VCPUS}`);
  }
  const kernel = loadKernel(mem, cfg.kernel);
  const cmdline = encodeCmdline(cfg.cmdline, kernel.cmdlineMax);
  mem.write(CMDLINE_START, cmdline);
  const initrd = cfg.initrd ? loadInitrd(mem, kernel, cfg.initrd) : undefined;
  writeZeroPage(mem, ZERO_PAGE_START, {
    kernel,
    cmdlineAddr: CMDLINE_START,
    e820: buildE820(mem),
    ...(initrd ? { initrd } : {}),
  });
  writeMptable(mem, cfg.vcpus);
  writeGdtAndIdt(mem);
  writeIdentityPageTables(mem);
  return {
    entry: kernel.entry,
    zeroPage: ZERO_PAGE_START,
    kernelKind: kernel.kind,
    kernelEnd: kernel.kernelEnd,
    ...(initrd ? { initrd: { addr: initrd.addr, size: initrd.size } } : {}),
  };
}
