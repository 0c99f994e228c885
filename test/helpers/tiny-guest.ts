// Tiny guests for kvm-tier tests: one memory slot, one vCPU in real or flat 32-bit mode, and a small x86 assembler.
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { native } from '../../kvm-native/index.js';
import { Kvm } from '../../vmm/kvm/kvm.js';
import type { VmFd } from '../../vmm/kvm/vm.js';
import type { VcpuFd } from '../../vmm/kvm/vcpu.js';
import type { KvmSegment } from '../../vmm/kvm/types.js';

/** Default guest RAM: 32 KiB at guest-physical 0, so addresses from 0x8000 up are unmapped (MMIO). */
export const TINY_MEM_SIZE = 0x8000;
/** Default load address of the test code. */
export const TINY_CODE_ADDR = 0x1000;
/** Default stack top (below the end of the default RAM). */
export const TINY_STACK_TOP = 0x7000;
/** A guest-physical address outside the default RAM, so accesses exit as KVM_EXIT_MMIO. */
export const TINY_MMIO_ADDR = 0x9000;
/** rflags bit 1 is reserved and always set. */
const RFLAGS_RESERVED = 0x2n;
const CR0_PE = 0x1n;
/** Segment types: execute/read code, accessed (0xb); read/write data, accessed (0x3). */
const SEG_TYPE_CODE = 0xb;
const SEG_TYPE_DATA = 0x3;
/** Flat-mode selectors (the GDT itself is never read: KVM loads the hidden parts from sregs). */
const FLAT_CODE_SELECTOR = 0x8;
const FLAT_DATA_SELECTOR = 0x10;

export type CpuMode = 'real' | 'protected32';

export interface TinyGuestOptions {
  readonly mode?: CpuMode;
  readonly memSize?: number;
  readonly codeAddr?: number;
}

export interface TinyGuest {
  readonly kvm: Kvm;
  readonly vm: VmFd;
  readonly vcpu: VcpuFd;
  readonly mem: GuestMemory;
  close(): void;
}

/** A VM with one memfd-backed memory slot at guest-physical 0 (no vCPU yet). */
export function createTinyVm(memSize = TINY_MEM_SIZE): { kvm: Kvm; vm: VmFd; mem: GuestMemory } {
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  const mem = GuestMemory.create([{ start: GuestAddress(0), size: memSize }], 'tiny-guest');
  mem.regions.forEach((r, slot) => vm.setUserMemoryRegion(slot, r.start, r.buffer));
  return { kvm, vm, mem };
}

/** Real mode: every segment base 0, so CS:IP = 0:entry. */
export function setupRealMode(vcpu: VcpuFd, entry: number, stackTop = TINY_STACK_TOP): void {
  const sregs = vcpu.getSregs();
  for (const name of ['cs', 'ds', 'es', 'fs', 'gs', 'ss'] as const) {
    sregs[name] = { ...sregs[name], base: 0n, selector: 0 };
  }
  sregs.cr0 &= ~CR0_PE;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...zeroRegs(), rip: BigInt(entry), rsp: BigInt(stackTop), rflags: RFLAGS_RESERVED });
}

/** Flat 32-bit protected mode: 4 GiB code and data segments at base 0, paging off. */
export function setupProtected32(vcpu: VcpuFd, entry: number, stackTop = TINY_STACK_TOP): void {
  const sregs = vcpu.getSregs();
  const flat = (selector: number, type: number): KvmSegment => ({
    base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0,
  });
  sregs.cs = flat(FLAT_CODE_SELECTOR, SEG_TYPE_CODE);
  for (const name of ['ds', 'es', 'fs', 'gs', 'ss'] as const) sregs[name] = flat(FLAT_DATA_SELECTOR, SEG_TYPE_DATA);
  sregs.cr0 |= CR0_PE;
  vcpu.setSregs(sregs);
  vcpu.setRegs({ ...zeroRegs(), rip: BigInt(entry), rsp: BigInt(stackTop), rflags: RFLAGS_RESERVED });
}

export function zeroRegs(): ReturnType<VcpuFd['getRegs']> {
  return {
    rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0n, rbp: 0n,
    r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n, rip: 0n, rflags: RFLAGS_RESERVED,
  };
}

/** A VM, its memory with `code` loaded at codeAddr, and vCPU 0 ready to run it. */
export function tinyGuest(code: Uint8Array, opts: TinyGuestOptions = {}): TinyGuest {
  const codeAddr = opts.codeAddr ?? TINY_CODE_ADDR;
  const { kvm, vm, mem } = createTinyVm(opts.memSize ?? TINY_MEM_SIZE);
  mem.write(codeAddr, code);
  const vcpu = vm.createVcpu(0);
  if ((opts.mode ?? 'real') === 'real') setupRealMode(vcpu, codeAddr);
  else setupProtected32(vcpu, codeAddr);
  return {
    kvm, vm, vcpu, mem,
    close(): void {
      vcpu.close();
      vm.close();
      kvm.close();
      // The mappings stay valid until GC; only the memfd number is released here.
      native.close(mem.fd);
    },
  };
}

/**
 * A tiny x86 assembler for the few instructions the tests need, in 16-bit (real mode) or
 * 32-bit code. Labels may be used before they are defined (rel8 jumps are patched in bytes()).
 */
export class Asm {
  private readonly out: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string }[] = [];

  constructor(readonly bits: 16 | 32 = 16) {}

  /** Operand-size prefix for a 16-bit operand in 32-bit code. */
  private op16(): number[] {
    return this.bits === 32 ? [0x66] : [];
  }
  private imm16(v: number): number[] {
    return [v & 0xff, (v >> 8) & 0xff];
  }
  /** A moffs operand: 16 bits in real mode, 32 bits in 32-bit code. */
  private moffs(addr: number): number[] {
    return this.bits === 16 ? this.imm16(addr) : [addr & 0xff, (addr >>> 8) & 0xff, (addr >>> 16) & 0xff, (addr >>> 24) & 0xff];
  }
  private emit(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  private rel8(opcode: number, label: string): this {
    this.out.push(opcode, 0);
    this.fixups.push({ at: this.out.length - 1, label });
    return this;
  }

  label(name: string): this {
    this.labels.set(name, this.out.length);
    return this;
  }
  movAlImm(v: number): this { return this.emit(0xb0, v & 0xff); }
  movDxImm(v: number): this { return this.emit(...this.op16(), 0xba, ...this.imm16(v)); }
  movCxImm(v: number): this { return this.emit(...this.op16(), 0xb9, ...this.imm16(v)); }
  /** out dx, al */
  outDxAl(): this { return this.emit(0xee); }
  /** in al, dx */
  inAlDx(): this { return this.emit(0xec); }
  /** out imm8, al */
  outImmAl(port: number): this { return this.emit(0xe6, port & 0xff); }
  /** in al, imm8 */
  inAlImm(port: number): this { return this.emit(0xe4, port & 0xff); }
  /** mov [addr], al */
  movMemAl(addr: number): this { return this.emit(0xa2, ...this.moffs(addr)); }
  /** mov al, [addr] */
  movAlMem(addr: number): this { return this.emit(0xa0, ...this.moffs(addr)); }
  incAl(): this { return this.emit(0xfe, 0xc0); }
  nop(): this { return this.emit(0x90); }
  cli(): this { return this.emit(0xfa); }
  hlt(): this { return this.emit(0xf4); }
  /** jmp rel8 to a label */
  jmp(label: string): this { return this.rel8(0xeb, label); }
  /** loop rel8 (dec cx/ecx, jump while not zero) */
  loop(label: string): this { return this.rel8(0xe2, label); }
  /** jmp $ (an endless loop) */
  jmpSelf(): this { return this.emit(0xeb, 0xfe); }

  bytes(): Uint8Array {
    const code = [...this.out];
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`asm: undefined label ${f.label}`);
      const disp = target - (f.at + 1);
      if (disp < -128 || disp > 127) throw new Error(`asm: label ${f.label} out of rel8 range (${disp})`);
      code[f.at] = disp & 0xff;
    }
    return Uint8Array.from(code);
  }
}
