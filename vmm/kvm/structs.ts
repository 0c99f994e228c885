// Codecs between the raw kernel structs (kvm_regs, kvm_sregs, kvm_fpu, kvm_cpuid2, kvm_msrs) and their TS shapes.
import type { CpuidEntry, KvmDtable, KvmFpu, KvmRegs, KvmSegment, KvmSregs, MsrEntry } from './types.js';

/** sizeof(struct ...) on x86-64, from <asm/kvm.h>. */
export const KVM_REGS_SIZE = 144;
export const KVM_SEGMENT_SIZE = 24;
export const KVM_DTABLE_SIZE = 16;
export const KVM_SREGS_SIZE = 312;
export const KVM_FPU_SIZE = 416;
export const KVM_CPUID2_HEADER_SIZE = 8;
export const KVM_CPUID_ENTRY2_SIZE = 40;
export const KVM_MSRS_HEADER_SIZE = 8;
export const KVM_MSR_ENTRY_SIZE = 16;

/** Field offsets inside struct kvm_segment. */
export const SEGMENT_OFFSET = {
  base: 0, limit: 8, selector: 12, type: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19, g: 20, avl: 21, unusable: 22,
} as const;

/** Field offsets inside struct kvm_sregs. */
export const SREGS_OFFSET = {
  cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168,
  gdt: 192, idt: 208,
  cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apicBase: 272, interruptBitmap: 280,
} as const;

/** Field offsets inside struct kvm_fpu (fpr[8][16] comes first, so fcw is at 128). */
export const FPU_OFFSET = {
  fpr: 0, fcw: 128, fsw: 130, ftwx: 132, lastOpcode: 134, lastIp: 136, lastDp: 144, xmm: 152, mxcsr: 408,
} as const;

/** Field offsets inside struct kvm_cpuid_entry2. */
export const CPUID_ENTRY_OFFSET = { function: 0, index: 4, flags: 8, eax: 12, ebx: 16, ecx: 20, edx: 24 } as const;

/** The order of the u64 fields of struct kvm_regs. */
const REGS_FIELDS = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const satisfies readonly (keyof KvmRegs)[];

const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;

export class KvmStructError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'KvmStructError';
  }
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function requireLength(bytes: Uint8Array, size: number, what: string): void {
  if (bytes.byteLength !== size) throw new KvmStructError(`${what}: expected ${size} bytes, got ${bytes.byteLength}`);
}

/** Masks a bigint to u64 and rejects negatives so a wrong value fails loudly instead of wrapping. */
function u64(v: bigint, what: string): bigint {
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new KvmStructError(`${what} out of u64 range: ${v}`);
  return v;
}

function uint(v: number, bits: 8 | 16 | 32, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new KvmStructError(`${what} out of u${bits} range: ${v}`);
  return v;
}

// --- kvm_regs ---

export function encodeRegs(regs: KvmRegs): Uint8Array {
  const out = new Uint8Array(KVM_REGS_SIZE);
  const dv = viewOf(out);
  REGS_FIELDS.forEach((name, i) => dv.setBigUint64(i * 8, u64(regs[name], `kvm_regs.${name}`), true));
  return out;
}

export function decodeRegs(bytes: Uint8Array): KvmRegs {
  requireLength(bytes, KVM_REGS_SIZE, 'kvm_regs');
  const dv = viewOf(bytes);
  const regs = {} as Record<(typeof REGS_FIELDS)[number], bigint>;
  REGS_FIELDS.forEach((name, i) => (regs[name] = dv.getBigUint64(i * 8, true)));
  return regs;
}

// --- kvm_segment / kvm_dtable ---

export function writeSegment(dv: DataView, offset: number, seg: KvmSegment): void {
  const o = SEGMENT_OFFSET;
  dv.setBigUint64(offset + o.base, u64(seg.base, 'kvm_segment.base'), true);
  dv.setUint32(offset + o.limit, uint(seg.limit, 32, 'kvm_segment.limit'), true);
  dv.setUint16(offset + o.selector, uint(seg.selector, 16, 'kvm_segment.selector'), true);
  dv.setUint8(offset + o.type, uint(seg.type, 8, 'kvm_segment.type'));
  dv.setUint8(offset + o.present, uint(seg.present, 8, 'kvm_segment.present'));
  dv.setUint8(offset + o.dpl, uint(seg.dpl, 8, 'kvm_segment.dpl'));
  dv.setUint8(offset + o.db, uint(seg.db, 8, 'kvm_segment.db'));
  dv.setUint8(offset + o.s, uint(seg.s, 8, 'kvm_segment.s'));
  dv.setUint8(offset + o.l, uint(seg.l, 8, 'kvm_segment.l'));
  dv.setUint8(offset + o.g, uint(seg.g, 8, 'kvm_segment.g'));
  dv.setUint8(offset + o.avl, uint(seg.avl, 8, 'kvm_segment.avl'));
  dv.setUint8(offset + o.unusable, uint(seg.unusable, 8, 'kvm_segment.unusable'));
  dv.setUint8(offset + o.unusable + 1, 0);
}

export function readSegment(dv: DataView, offset: number): KvmSegment {
  const o = SEGMENT_OFFSET;
  return {
    base: dv.getBigUint64(offset + o.base, true),
    limit: dv.getUint32(offset + o.limit, true),
    selector: dv.getUint16(offset + o.selector, true),
    type: dv.getUint8(offset + o.type),
    present: dv.getUint8(offset + o.present),
    dpl: dv.getUint8(offset + o.dpl),
    db: dv.getUint8(offset + o.db),
    s: dv.getUint8(offset + o.s),
    l: dv.getUint8(offset + o.l),
    g: dv.getUint8(offset + o.g),
    avl: dv.getUint8(offset + o.avl),
    unusable: dv.getUint8(offset + o.unusable),
  };
}

export function encodeSegment(seg: KvmSegment): Uint8Array {
  const out = new Uint8Array(KVM_SEGMENT_SIZE);
  writeSegment(viewOf(out), 0, seg);
  return out;
}

export function decodeSegment(bytes: Uint8Array): KvmSegment {
  requireLength(bytes, KVM_SEGMENT_SIZE, 'kvm_segment');
  return readSegment(viewOf(bytes), 0);
}

export function writeDtable(dv: DataView, offset: number, dt: KvmDtable): void {
  dv.setBigUint64(offset, u64(dt.base, 'kvm_dtable.base'), true);
  dv.setUint16(offset + 8, uint(dt.limit, 16, 'kvm_dtable.limit'), true);
  for (let i = 10; i < KVM_DTABLE_SIZE; i++) dv.setUint8(offset + i, 0);
}

export function readDtable(dv: DataView, offset: number): KvmDtable {
  return { base: dv.getBigUint64(offset, true), limit: dv.getUint16(offset + 8, true) };
}

export function encodeDtable(dt: KvmDtable): Uint8Array {
  const out = new Uint8Array(KVM_DTABLE_SIZE);
  writeDtable(viewOf(out), 0, dt);
  return out;
}

export function decodeDtable(bytes: Uint8Array): KvmDtable {
  requireLength(bytes, KVM_DTABLE_SIZE, 'kvm_dtable');
  return readDtable(viewOf(bytes), 0);
}

// --- kvm_sregs ---

export function encodeSregs(sregs: KvmSregs): Uint8Array {
  const out = new Uint8Array(KVM_SREGS_SIZE);
  const dv = viewOf(out);
  const o = SREGS_OFFSET;
  for (const name of SEGMENT_NAMES) writeSegment(dv, o[name], sregs[name]);
  writeDtable(dv, o.gdt, sregs.gdt);
  writeDtable(dv, o.idt, sregs.idt);
  dv.setBigUint64(o.cr0, u64(sregs.cr0, 'kvm_sregs.cr0'), true);
  dv.setBigUint64(o.cr2, u64(sregs.cr2, 'kvm_sregs.cr2'), true);
  dv.setBigUint64(o.cr3, u64(sregs.cr3, 'kvm_sregs.cr3'), true);
  dv.setBigUint64(o.cr4, u64(sregs.cr4, 'kvm_sregs.cr4'), true);
  dv.setBigUint64(o.cr8, u64(sregs.cr8, 'kvm_sregs.cr8'), true);
  dv.setBigUint64(o.efer, u64(sregs.efer, 'kvm_sregs.efer'), true);
  dv.setBigUint64(o.apicBase, u64(sregs.apicBase, 'kvm_sregs.apic_base'), true);
  sregs.interruptBitmap.forEach((w, i) => dv.setBigUint64(o.interruptBitmap + i * 8, u64(w, 'kvm_sregs.interrupt_bitmap'), true));
  return out;
}

export function decodeSregs(bytes: Uint8Array): KvmSregs {
  requireLength(bytes, KVM_SREGS_SIZE, 'kvm_sregs');
  const dv = viewOf(bytes);
  const o = SREGS_OFFSET;
  const bitmap = (i: number): bigint => dv.getBigUint64(o.interruptBitmap + i * 8, true);
  return {
    cs: readSegment(dv, o.cs), ds: readSegment(dv, o.ds), es: readSegment(dv, o.es), fs: readSegment(dv, o.fs),
    gs: readSegment(dv, o.gs), ss: readSegment(dv, o.ss), tr: readSegment(dv, o.tr), ldt: readSegment(dv, o.ldt),
    gdt: readDtable(dv, o.gdt), idt: readDtable(dv, o.idt),
    cr0: dv.getBigUint64(o.cr0, true), cr2: dv.getBigUint64(o.cr2, true), cr3: dv.getBigUint64(o.cr3, true),
    cr4: dv.getBigUint64(o.cr4, true), cr8: dv.getBigUint64(o.cr8, true),
    efer: dv.getBigUint64(o.efer, true), apicBase: dv.getBigUint64(o.apicBase, true),
    interruptBitmap: [bitmap(0), bitmap(1), bitmap(2), bitmap(3)],
  };
}

// --- kvm_fpu ---

/** Encodes fcw and mxcsr over `fpu.raw` (when given, all other fields come from it; else zero). */
export function encodeFpu(fpu: KvmFpu): Uint8Array {
  const out = new Uint8Array(KVM_FPU_SIZE);
  if (fpu.raw !== undefined) {
    requireLength(fpu.raw, KVM_FPU_SIZE, 'kvm_fpu.raw');
    out.set(fpu.raw);
  }
  const dv = viewOf(out);
  dv.setUint16(FPU_OFFSET.fcw, uint(fpu.fcw, 16, 'kvm_fpu.fcw'), true);
  dv.setUint32(FPU_OFFSET.mxcsr, uint(fpu.mxcsr, 32, 'kvm_fpu.mxcsr'), true);
  return out;
}

export function decodeFpu(bytes: Uint8Array): KvmFpu {
  requireLength(bytes, KVM_FPU_SIZE, 'kvm_fpu');
  const dv = viewOf(bytes);
  return { fcw: dv.getUint16(FPU_OFFSET.fcw, true), mxcsr: dv.getUint32(FPU_OFFSET.mxcsr, true), raw: bytes.slice() };
}

// --- kvm_cpuid2 ---

export function encodeCpuid2(entries: readonly CpuidEntry[]): Uint8Array {
  const out = new Uint8Array(KVM_CPUID2_HEADER_SIZE + entries.length * KVM_CPUID_ENTRY2_SIZE);
  const dv = viewOf(out);
  dv.setUint32(0, entries.length, true);
  const o = CPUID_ENTRY_OFFSET;
  entries.forEach((e, i) => {
    const base = KVM_CPUID2_HEADER_SIZE + i * KVM_CPUID_ENTRY2_SIZE;
    dv.setUint32(base + o.function, uint(e.function, 32, 'cpuid.function'), true);
    dv.setUint32(base + o.index, uint(e.index, 32, 'cpuid.index'), true);
    dv.setUint32(base + o.flags, uint(e.flags, 32, 'cpuid.flags'), true);
    dv.setUint32(base + o.eax, uint(e.eax, 32, 'cpuid.eax'), true);
    dv.setUint32(base + o.ebx, uint(e.ebx, 32, 'cpuid.ebx'), true);
    dv.setUint32(base + o.ecx, uint(e.ecx, 32, 'cpuid.ecx'), true);
    dv.setUint32(base + o.edx, uint(e.edx, 32, 'cpuid.edx'), true);
  });
  return out;
}

export function decodeCpuid2(bytes: Uint8Array): CpuidEntry[] {
  if (bytes.byteLength < KVM_CPUID2_HEADER_SIZE) throw new KvmStructError(`kvm_cpuid2: ${bytes.byteLength} bytes is shorter than its header`);
  const dv = viewOf(bytes);
  const nent = dv.getUint32(0, true);
  requireLength(bytes, KVM_CPUID2_HEADER_SIZE + nent * KVM_CPUID_ENTRY2_SIZE, `kvm_cpuid2 with nent ${nent}`);
  const o = CPUID_ENTRY_OFFSET;
  const entries: CpuidEntry[] = [];
  for (let i = 0; i < nent; i++) {
    const base = KVM_CPUID2_HEADER_SIZE + i * KVM_CPUID_ENTRY2_SIZE;
    entries.push({
      function: dv.getUint32(base + o.function, true),
      index: dv.getUint32(base + o.index, true),
      flags: dv.getUint32(base + o.flags, true),
      eax: dv.getUint32(base + o.eax, true),
      ebx: dv.getUint32(base + o.ebx, true),
      ecx: dv.getUint32(base + o.ecx, true),
      edx: dv.getUint32(base + o.edx, true),
    });
  }
  return entries;
}

// --- kvm_msrs ---

export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array {
  const out = new Uint8Array(KVM_MSRS_HEADER_SIZE + entries.length * KVM_MSR_ENTRY_SIZE);
  const dv = viewOf(out);
  dv.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    const base = KVM_MSRS_HEADER_SIZE + i * KVM_MSR_ENTRY_SIZE;
    dv.setUint32(base, uint(e.index, 32, 'msr.index'), true);
    dv.setBigUint64(base + 8, u64(e.data, 'msr.data'), true);
  });
  return out;
}

/** Decodes all entries of a kvm_msrs, or only the first `count` (what KVM_GET_MSRS processed). */
export function decodeMsrs(bytes: Uint8Array, count?: number): MsrEntry[] {
  if (bytes.byteLength < KVM_MSRS_HEADER_SIZE) throw new KvmStructError(`kvm_msrs: ${bytes.byteLength} bytes is shorter than its header`);
  const dv = viewOf(bytes);
  const nmsrs = dv.getUint32(0, true);
  requireLength(bytes, KVM_MSRS_HEADER_SIZE + nmsrs * KVM_MSR_ENTRY_SIZE, `kvm_msrs with nmsrs ${nmsrs}`);
  const n = count === undefined ? nmsrs : Math.min(Math.max(0, count), nmsrs);
  const entries: MsrEntry[] = [];
  for (let i = 0; i < n; i++) {
    const base = KVM_MSRS_HEADER_SIZE + i * KVM_MSR_ENTRY_SIZE;
    entries.push({ index: dv.getUint32(base, true), data: dv.getBigUint64(base + 8, true) });
  }
  return entries;
}
