// Plain TypeScript shapes of the KVM structs that cross the addon (codecs live in vmm/kvm/structs.ts).

/** struct kvm_regs */
export interface KvmRegs {
  rax: bigint; rbx: bigint; rcx: bigint; rdx: bigint;
  rsi: bigint; rdi: bigint; rsp: bigint; rbp: bigint;
  r8: bigint; r9: bigint; r10: bigint; r11: bigint;
  r12: bigint; r13: bigint; r14: bigint; r15: bigint;
  rip: bigint; rflags: bigint;
}

/** struct kvm_segment */
export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** struct kvm_dtable */
export interface KvmDtable {
  base: bigint;
  limit: number;
}

/** struct kvm_sregs */
export interface KvmSregs {
  cs: KvmSegment; ds: KvmSegment; es: KvmSegment; fs: KvmSegment; gs: KvmSegment; ss: KvmSegment;
  tr: KvmSegment; ldt: KvmSegment;
  gdt: KvmDtable; idt: KvmDtable;
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  /** interrupt_bitmap[4], as raw u64s */
  interruptBitmap: [bigint, bigint, bigint, bigint];
}

/** struct kvm_fpu, the parts a boot sets */
export interface KvmFpu {
  fcw: number;
  /** KVM_SET_FPU / KVM_GET_FPU ignore mxcsr (it reads back 0): set it through XSAVE state if it matters */
  mxcsr: number;
  /** the whole 416-byte struct, for round-tripping fields not named here */
  raw?: Uint8Array;
}

/** struct kvm_cpuid_entry2 */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** struct kvm_msr_entry */
export interface MsrEntry {
  index: number;
  data: bigint;
}
