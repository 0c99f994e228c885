// Initial vCPU state for the Linux 64-bit boot protocol: long-mode sregs, general registers and FPU control.
import type { KvmFpu, KvmRegs, KvmSregs } from '../../kvm/types.js';
import {
  BOOT_GDT_LIMIT, BOOT_IDT_LIMIT, GDT_CODE_INDEX, GDT_DATA_INDEX, GDT_TSS_INDEX, bootGdt, segmentFromGdt,
} from './gdt.js';
import { BOOT_GDT_START, BOOT_IDT_START, BOOT_STACK_POINTER, PML4_START } from './layout.js';

export const X86_CR0_PE = 1n << 0n;
export const X86_CR0_ET = 1n << 4n;
export const X86_CR0_NW = 1n << 29n;
export const X86_CR0_CD = 1n << 30n;
export const X86_CR0_PG = 1n << 31n;
export const X86_CR4_PAE = 1n << 5n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
/** rflags bit 1 is reserved and always reads as 1; interrupts stay off until the kernel enables them. */
export const RFLAGS_RESERVED = 2n;
/** x87 control word after FNINIT: all exceptions masked, 64-bit precision, round to nearest. */
export const FPU_FCW_DEFAULT = 0x37f;
/** MXCSR after reset: all SSE exceptions masked. */
export const MXCSR_DEFAULT = 0x1f80;

/**
 * `base` (the vCPU's sregs from KVM_GET_SREGS) switched to 64-bit long mode with paging: segments from the
 * boot GDT, gdtr/idtr, cr3 at the identity page tables. CD and NW are cleared so caching is on from the start.
 */
export function longModeSregs(base: KvmSregs): KvmSregs {
  const gdt = bootGdt();
  const code = segmentFromGdt(gdt[GDT_CODE_INDEX]!, GDT_CODE_INDEX);
  const data = segmentFromGdt(gdt[GDT_DATA_INDEX]!, GDT_DATA_INDEX);
  const tss = segmentFromGdt(gdt[GDT_TSS_INDEX]!, GDT_TSS_INDEX);
  return {
    ...base,
    cs: code,
    ds: { ...data },
    es: { ...data },
    fs: { ...data },
    gs: { ...data },
    ss: { ...data },
    tr: tss,
    gdt: { base: BigInt(BOOT_GDT_START), limit: BOOT_GDT_LIMIT },
    idt: { base: BigInt(BOOT_IDT_START), limit: BOOT_IDT_LIMIT },
    cr0: (base.cr0 & ~(X86_CR0_CD | X86_CR0_NW)) | X86_CR0_PE | X86_CR0_ET | X86_CR0_PG,
    cr3: BigInt(PML4_START),
    cr4: base.cr4 | X86_CR4_PAE,
    efer: base.efer | EFER_LME | EFER_LMA,
  };
}

/** General registers at the 64-bit entry: rip = entry, rsi = zero page, a small stack below the page tables. */
export function bootRegs(entry: number, zeroPage: number): KvmRegs {
  const z = 0n;
  return {
    rax: z, rbx: z, rcx: z, rdx: z,
    rsi: BigInt(zeroPage), rdi: z, rsp: BigInt(BOOT_STACK_POINTER), rbp: BigInt(BOOT_STACK_POINTER),
    r8: z, r9: z, r10: z, r11: z, r12: z, r13: z, r14: z, r15: z,
    rip: BigInt(entry), rflags: RFLAGS_RESERVED,
  };
}

/** FPU state at boot (the fields KVM_SET_FPU needs besides zeros). */
export function bootFpu(): KvmFpu {
  return { fcw: FPU_FCW_DEFAULT, mxcsr: MXCSR_DEFAULT };
}
