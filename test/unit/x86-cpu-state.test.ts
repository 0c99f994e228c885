// Boot CPU state: GDT bytes, identity page tables walked like the MMU, long-mode sregs, regs, FPU and MSRs.
import t from 'tap';
import { GuestMemory } from '../../vmm/memory/guest-memory.js';
import type { KvmSegment, KvmSregs } from '../../vmm/kvm/types.js';
import { guestRegions, BOOT_GDT_START, BOOT_STACK_POINTER, PML4_START } from '../../vmm/arch/x86_64/layout.js';
import { gdtEntry, segmentFromGdt, writeGdtAndIdt } from '../../vmm/arch/x86_64/gdt.js';
import { writeIdentityPageTables } from '../../vmm/arch/x86_64/paging.js';
import { bootFpu, bootRegs, longModeSregs } from '../../vmm/arch/x86_64/regs.js';
import { bootMsrs } from '../../vmm/arch/x86_64/msrs.js';
import { translate } from './x86-fixture.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

t.test('descriptors encode as Linux GDT_ENTRY does', async (t) => {
  t.equal(gdtEntry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffn, 'code64');
  t.equal(gdtEntry(0xc093, 0, 0xfffff), 0x00cf93000000ffffn, 'data');
  t.equal(gdtEntry(0x808b, 0, 0xfffff), 0x008f8b000000ffffn, 'tss');
  t.equal(gdtEntry(0xc093, 0x12345678, 0xabcde), 0x12ca93345678bcden, 'base and limit split across the descriptor');
  const seg = segmentFromGdt(0x12ca93345678bcden, 5);
  t.equal(seg.base, 0x12345678n);
  t.equal(seg.limit, 0xabcdefff, 'G=1 scales the limit to bytes');
  t.equal(seg.selector, 40);
});

t.test('the GDT is written at 0x500 and the IDT after it is empty', async (t) => {
  const mem = GuestMemory.forTest(guestRegions(256 * MiB));
  mem.fill(0x500, 0x40, 0xff);
  writeGdtAndIdt(mem);
  t.same([0, 1, 2, 3].map((i) => mem.readU64(BOOT_GDT_START + 8 * i)), [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x008f8b000000ffffn]);
  t.equal(mem.readU64(0x520), 0n);
});

t.test('page tables map 0..4 GiB identically with 2 MiB pages', async (t) => {
  const mem = GuestMemory.forTest(guestRegions(256 * MiB));
  const cr3 = writeIdentityPageTables(mem);
  t.equal(cr3, PML4_START);
  let wrong = 0;
  for (let a = 0; a < 4 * GiB; a += 2 * MiB) {
    for (const off of [0, 0x1234, 2 * MiB - 1]) if (translate(mem, cr3, a + off) !== a + off) wrong++;
  }
  t.equal(wrong, 0, 'every 2 MiB page of the first 4 GiB translates to itself');
  t.equal(translate(mem, cr3, 0x3fff_ffff), 0x3fff_ffff, 'last byte of the first GiB');
  t.equal(translate(mem, cr3, 4 * GiB), undefined, '4 GiB and above are not mapped');
  t.equal(translate(mem, cr3, 512 * GiB), undefined, 'no second PML4 entry');
});

/** KVM's sregs after vCPU creation (real mode, reset values), as KVM_GET_SREGS returns them. */
function resetSregs(): KvmSregs {
  const seg = (selector: number, type: number): KvmSegment => ({
    base: BigInt(selector << 4), limit: 0xffff, selector, type, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0,
  });
  return {
    cs: { ...seg(0xf000, 11), base: 0xffff0000n }, ds: seg(0, 3), es: seg(0, 3), fs: seg(0, 3), gs: seg(0, 3), ss: seg(0, 3),
    tr: { ...seg(0, 11), s: 0 }, ldt: { ...seg(0, 2), s: 0 },
    gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n,
    interruptBitmap: [0n, 0n, 0n, 0n],
  };
}

t.test('longModeSregs: flat 64-bit segments from the GDT, paging and long mode on', async (t) => {
  const base = resetSregs();
  const s = longModeSregs(base);
  t.same(s.cs, { base: 0n, limit: 0xffffffff, selector: 0x8, type: 0xb, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0 });
  for (const name of ['ds', 'es', 'fs', 'gs', 'ss'] as const) {
    t.same(s[name], { base: 0n, limit: 0xffffffff, selector: 0x10, type: 0x3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 }, name);
  }
  t.equal(s.tr.selector, 0x18);
  t.equal(s.tr.type, 0xb, 'busy 64-bit TSS');
  t.equal(s.tr.s, 0);
  t.same(s.gdt, { base: 0x500n, limit: 31 });
  t.same(s.idt, { base: 0x520n, limit: 7 });
  t.equal(s.cr0 & 0x80000011n, 0x80000011n, 'PE, ET and PG');
  t.equal(s.cr0 & 0x60000000n, 0n, 'caches enabled (CD and NW clear)');
  t.equal(s.cr3, 0x9000n);
  t.equal(s.cr4 & 0x20n, 0x20n, 'PAE');
  t.equal(s.efer, 0x500n, 'LME and LMA');
  t.equal(s.apicBase, base.apicBase, 'fields not about the mode are kept');
  t.same(base, resetSregs(), 'the input is not modified');

  const mem = GuestMemory.forTest(guestRegions(256 * MiB));
  writeGdtAndIdt(mem);
  for (const seg of [s.cs, s.ds, s.tr]) {
    t.same(segmentFromGdt(mem.readU64(BOOT_GDT_START + seg.selector), seg.selector / 8), seg, `selector 0x${seg.selector.toString(16)} matches the GDT in memory`);
  }
});

t.test('bootRegs, bootFpu and bootMsrs', async (t) => {
  const r = bootRegs(0x1000200, 0x7000);
  t.equal(r.rip, 0x1000200n);
  t.equal(r.rsi, 0x7000n);
  t.equal(r.rsp, BigInt(BOOT_STACK_POINTER));
  t.equal(r.rbp, BigInt(BOOT_STACK_POINTER));
  t.equal(r.rflags, 2n);
  t.equal(r.rax | r.rbx | r.rcx | r.rdx | r.rdi | r.r8 | r.r15, 0n);
  t.same(bootFpu(), { fcw: 0x37f, mxcsr: 0x1f80 });
  const msrs = new Map(bootMsrs().map((m) => [m.index, m.data]));
  t.equal(msrs.size, bootMsrs().length, 'each MSR once');
  t.equal(msrs.get(0x1a0), 1n, 'IA32_MISC_ENABLE fast strings');
  t.equal(msrs.get(0x2ff), 0x806n, 'MTRRs enabled, default write-back');
  for (const idx of [0x10, 0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102]) {
    t.equal(msrs.get(idx), 0n, `MSR 0x${idx.toString(16)} cleared`);
  }
});
