// Round trips of the KVM struct codecs, with field offsets checked against the kernel's (offsetof on x86-64).
import t from 'tap';
import {
  decodeCpuid2, decodeDtable, decodeFpu, decodeMsrs, decodeRegs, decodeSegment, decodeSregs,
  encodeCpuid2, encodeDtable, encodeFpu, encodeMsrs, encodeRegs, encodeSegment, encodeSregs,
  KVM_CPUID_ENTRY2_SIZE, KVM_FPU_SIZE, KVM_MSR_ENTRY_SIZE, KVM_REGS_SIZE, KVM_SREGS_SIZE, KvmStructError,
} from '../../vmm/kvm/structs.js';
import { KvmRun, KVM_RUN_SIZE, KvmRunError } from '../../vmm/kvm/run.js';
import { decodeExit } from '../../vmm/kvm/exit.js';
import { KVM_EXIT } from '../../vmm/kvm/constants.js';
import type { KvmRegs, KvmSegment, KvmSregs } from '../../vmm/kvm/types.js';

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

const seg = (n: number): KvmSegment => ({
  base: 0x1000n * BigInt(n + 1), limit: 0xffff + n, selector: 8 * n, type: 0xb, present: 1, dpl: n % 4,
  db: 1, s: 1, l: n % 2, g: 1, avl: 0, unusable: n === 7 ? 1 : 0,
});

t.test('kvm_regs: 144 bytes, fields in kernel order, round trip', async (t) => {
  const names = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;
  const regs = {} as KvmRegs;
  names.forEach((n, i) => (regs[n] = 0x1111_0000_0000_0000n + BigInt(i)));
  regs.rflags = 0xffff_ffff_ffff_ffffn;
  const b = encodeRegs(regs);
  t.equal(b.length, KVM_REGS_SIZE);
  t.equal(dv(b).getBigUint64(0, true), regs.rax, 'rax at 0');
  t.equal(dv(b).getBigUint64(128, true), regs.rip, 'rip at 128');
  t.equal(dv(b).getBigUint64(136, true), regs.rflags, 'rflags at 136');
  t.same(decodeRegs(b), regs);
  t.throws(() => decodeRegs(new Uint8Array(143)), KvmStructError);
  t.throws(() => encodeRegs({ ...regs, rax: -1n }), KvmStructError);
  t.throws(() => encodeRegs({ ...regs, rax: 1n << 64n }), KvmStructError);
});

t.test('kvm_segment and kvm_dtable: offsets and round trip', async (t) => {
  const s = seg(3);
  const b = encodeSegment(s);
  t.equal(b.length, 24);
  const v = dv(b);
  t.equal(v.getBigUint64(0, true), s.base, 'base at 0');
  t.equal(v.getUint32(8, true), s.limit, 'limit at 8');
  t.equal(v.getUint16(12, true), s.selector, 'selector at 12');
  t.equal(b[14], s.type, 'type at 14');
  t.equal(b[15], 1, 'present at 15');
  t.equal(b[16], s.dpl, 'dpl at 16');
  t.equal(b[19], s.l, 'l at 19');
  t.same(decodeSegment(b), s);
  t.throws(() => encodeSegment({ ...s, selector: 0x10000 }), KvmStructError);
  const dt = { base: 0xfffff000n, limit: 0x27 };
  const d = encodeDtable(dt);
  t.equal(d.length, 16);
  t.equal(dv(d).getUint16(8, true), 0x27, 'limit at 8');
  t.same(decodeDtable(d), dt);
});

t.test('kvm_sregs: 312 bytes with the kernel offsets', async (t) => {
  const sregs: KvmSregs = {
    cs: seg(0), ds: seg(1), es: seg(2), fs: seg(3), gs: seg(4), ss: seg(5), tr: seg(6), ldt: seg(7),
    gdt: { base: 0x500n, limit: 0x1f }, idt: { base: 0x600n, limit: 0x7ff },
    cr0: 0x8000_0011n, cr2: 0x2n, cr3: 0x9000n, cr4: 0x20n, cr8: 0x8n, efer: 0x500n, apicBase: 0xfee0_0900n,
    interruptBitmap: [1n, 2n, 3n, 1n << 63n],
  };
  const b = encodeSregs(sregs);
  t.equal(b.length, KVM_SREGS_SIZE);
  const v = dv(b);
  t.equal(v.getUint16(24 + 12, true), sregs.ds.selector, 'ds at 24');
  t.equal(v.getUint16(144 + 12, true), sregs.tr.selector, 'tr at 144');
  t.equal(v.getUint16(168 + 12, true), sregs.ldt.selector, 'ldt at 168');
  t.equal(v.getBigUint64(192, true), 0x500n, 'gdt at 192');
  t.equal(v.getBigUint64(208, true), 0x600n, 'idt at 208');
  t.equal(v.getBigUint64(224, true), sregs.cr0, 'cr0 at 224');
  t.equal(v.getBigUint64(240, true), sregs.cr3, 'cr3 at 240');
  t.equal(v.getBigUint64(264, true), sregs.efer, 'efer at 264');
  t.equal(v.getBigUint64(272, true), sregs.apicBase, 'apic_base at 272');
  t.equal(v.getBigUint64(304, true), 1n << 63n, 'interrupt_bitmap[3] at 304');
  t.same(decodeSregs(b), sregs);
});

t.test('kvm_fpu: 416 bytes, fcw at 128, mxcsr at 408, raw bytes kept', async (t) => {
  const raw = new Uint8Array(KVM_FPU_SIZE).map((_, i) => i & 0xff);
  const b = encodeFpu({ fcw: 0x37f, mxcsr: 0x1f80, raw });
  t.equal(b.length, 416);
  t.equal(dv(b).getUint16(128, true), 0x37f, 'fcw at 128');
  t.equal(dv(b).getUint32(408, true), 0x1f80, 'mxcsr at 408');
  t.equal(b[152], 152, 'xmm bytes from raw kept');
  const f = decodeFpu(b);
  t.equal(f.fcw, 0x37f);
  t.equal(f.mxcsr, 0x1f80);
  t.same(encodeFpu(f), b, 're-encoding a decoded fpu is identity');
  const plain = encodeFpu({ fcw: 0x37f, mxcsr: 0x1f80 });
  t.equal(plain.reduce((n, x) => n + x, 0), 0x7f + 3 + 0x80 + 0x1f, 'no raw: all other bytes zero');
  t.throws(() => encodeFpu({ fcw: 0, mxcsr: 0, raw: new Uint8Array(10) }), KvmStructError);
});

t.test('kvm_cpuid2: 8-byte header, 40-byte entries, nent checked', async (t) => {
  const entries = [
    { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
    { function: 7, index: 1, flags: 1, eax: 1, ebx: 2, ecx: 3, edx: 0xffffffff },
  ];
  const b = encodeCpuid2(entries);
  t.equal(b.length, 8 + 2 * KVM_CPUID_ENTRY2_SIZE);
  t.equal(dv(b).getUint32(0, true), 2, 'nent');
  t.equal(dv(b).getUint32(8 + 40 + 4, true), 1, 'entries[1].index at 48');
  t.equal(dv(b).getUint32(8 + 40 + 24, true), 0xffffffff, 'entries[1].edx at 72');
  t.same(decodeCpuid2(b), entries);
  const bad = b.slice();
  dv(bad).setUint32(0, 3, true);
  t.throws(() => decodeCpuid2(bad), KvmStructError, 'nent larger than the bytes');
  t.throws(() => decodeCpuid2(new Uint8Array(4)), KvmStructError);
  t.same(decodeCpuid2(encodeCpuid2([])), []);
});

t.test('kvm_msrs: 8-byte header, 16-byte entries, processed count', async (t) => {
  const entries = [{ index: 0x174, data: 0x10n }, { index: 0xc0000080, data: 0xd01n }, { index: 0x10, data: 1n << 63n }];
  const b = encodeMsrs(entries);
  t.equal(b.length, 8 + 3 * KVM_MSR_ENTRY_SIZE);
  t.equal(dv(b).getUint32(8 + 16, true), 0xc0000080, 'entries[1].index at 24');
  t.equal(dv(b).getBigUint64(8 + 16 + 8, true), 0xd01n, 'entries[1].data at 32');
  t.same(decodeMsrs(b), entries);
  t.same(decodeMsrs(b, 1), entries.slice(0, 1), 'only the processed entries');
  t.throws(() => decodeMsrs(b.subarray(0, 20)), KvmStructError);
});

t.test('kvm_run view: io and mmio exits decoded, data bounded by the mapping', async (t) => {
  const buf = new ArrayBuffer(4096);
  const v = new DataView(buf);
  const run = new KvmRun(buf);
  v.setUint32(8, KVM_EXIT.IO, true);
  v.setUint8(32, 1); // out
  v.setUint8(33, 2);
  v.setUint16(34, 0x3f8, true);
  v.setUint32(36, 3, true);
  v.setBigUint64(40, 4000n, true);
  new Uint8Array(buf, 4000, 6).set([1, 2, 3, 4, 5, 6]);
  const exit = decodeExit(run);
  t.equal(exit.reason, 'io-out');
  if (exit.reason === 'io-out') {
    t.equal(exit.port, 0x3f8);
    t.equal(exit.size, 2);
    t.equal(exit.count, 3);
    t.same([...exit.data], [1, 2, 3, 4, 5, 6]);
  }
  t.same([...run.ioData(2)], [5, 6], 'third value of a rep');
  t.throws(() => run.ioData(3), KvmRunError);
  v.setBigUint64(40, 4092n, true);
  t.throws(() => run.ioDataAll(), KvmRunError, 'data past the mapping');
  v.setBigUint64(40, 1n << 60n, true);
  t.throws(() => run.ioDataAll(), KvmRunError, 'huge data_offset');
  v.setBigUint64(40, 4000n, true);
  v.setUint8(33, 3);
  t.throws(() => run.ioDataAll(), KvmRunError, 'invalid size');
  v.setUint8(33, 1);
  v.setUint8(32, 0);
  const inExit = decodeExit(run);
  t.equal(inExit.reason, 'io-in');
  if (inExit.reason === 'io-in') {
    inExit.data[0] = 0x42;
    t.equal(new Uint8Array(buf)[4000], 0x42, 'io-in data is a view into kvm_run');
  }

  v.setUint32(8, KVM_EXIT.MMIO, true);
  v.setBigUint64(32, 0xd000_0000n, true);
  new Uint8Array(buf, 40, 8).set([9, 8, 7, 6, 5, 4, 3, 2]);
  v.setUint32(48, 4, true);
  v.setUint8(52, 1);
  const m = decodeExit(run);
  t.same(m.reason === 'mmio-write' ? [m.addr, [...m.data]] : null, [0xd000_0000, [9, 8, 7, 6]]);
  v.setUint32(48, 9, true);
  t.throws(() => run.mmioData(), KvmRunError, 'mmio len over 8');

  run.immediateExit = 1;
  t.equal(new Uint8Array(buf)[1], 1, 'immediate_exit at offset 1');
  run.immediateExit = 0;
  t.equal(new Uint8Array(buf)[1], 0);

  v.setUint32(8, KVM_EXIT.SYSTEM_EVENT, true);
  v.setUint32(32, 2, true);
  v.setUint32(36, 1000, true);
  const se = decodeExit(run);
  t.equal(se.reason === 'system-event' ? se.data.length : -1, 16, 'ndata clamped to 16');
  v.setUint32(8, KVM_EXIT.FAIL_ENTRY, true);
  v.setBigUint64(32, 0x80000021n, true);
  v.setUint32(40, 3, true);
  t.same(decodeExit(run), { reason: 'fail-entry', hardwareEntryFailureReason: 0x80000021n, cpu: 3 });
  t.throws(() => new KvmRun(new ArrayBuffer(KVM_RUN_SIZE - 1)), KvmRunError);
});
