// MP table as Linux's MP-spec parser reads it: floating pointer, checksums, processors, bus, IO-APIC, interrupts.
import t from 'tap';
import { GuestMemory } from '../../vmm/memory/guest-memory.js';
import { guestRegions, EBDA_START, IOAPIC_START, LAPIC_START, MAX_VCPUS } from '../../vmm/arch/x86_64/layout.js';
import { writeMptable } from '../../vmm/arch/x86_64/mptable.js';
import { byteSum } from './x86-fixture.js';

const MiB = 1024 * 1024;

interface Parsed {
  mpf: number;
  mpfLength: number;
  mpfSpec: number;
  mpfSum: number;
  table: number;
  signature: string;
  length: number;
  tableSum: number;
  seen: number;
  end: number;
  cpus: Array<{ apicId: number; version: number; flags: number }>;
  buses: string[];
  ioapics: Array<{ id: number; version: number; flags: number; addr: number }>;
  intsrc: Array<{ type: number; bus: number; srcIrq: number; dstApic: number; dstPin: number }>;
  lint: Array<{ type: number; dstApic: number; dstPin: number }>;
  count: number;
  lapic: number;
}

/** Finds "_MP_" by scanning the EBDA kilobyte on 16-byte boundaries, like Linux's smp_scan_config. */
function parse(mem: GuestMemory): Parsed {
  let mpf = -1;
  for (let a = EBDA_START; a < 0xa0000; a += 16) {
    if (Buffer.from(mem.view(a, 4)).toString('latin1') === '_MP_') {
      mpf = a;
      break;
    }
  }
  if (mpf < 0) throw new Error('no "_MP_" floating pointer in the EBDA');
  const table = mem.readU32(mpf + 4);
  const length = mem.readU16(table + 4);
  const p: Parsed = {
    mpf, mpfLength: mem.readU8(mpf + 8), mpfSpec: mem.readU8(mpf + 9), mpfSum: byteSum(mem.view(mpf, 16)), table,
    signature: Buffer.from(mem.view(table, 4)).toString('latin1'), length, tableSum: byteSum(mem.view(table, length)), seen: 0, end: 0,
    cpus: [], buses: [], ioapics: [], intsrc: [], lint: [], count: mem.readU16(table + 34), lapic: mem.readU32(table + 36) };
  let off = table + 44;
  let seen = 0;
  while (off < table + length) {
    const type = mem.readU8(off);
    seen++;
    if (type === 0) {
      p.cpus.push({ apicId: mem.readU8(off + 1), version: mem.readU8(off + 2), flags: mem.readU8(off + 3) });
      off += 20;
      continue;
    }
    if (type === 1) p.buses.push(Buffer.from(mem.view(off + 2, 6)).toString('latin1'));
    else if (type === 2) p.ioapics.push({ id: mem.readU8(off + 1), version: mem.readU8(off + 2), flags: mem.readU8(off + 3), addr: mem.readU32(off + 4) });
    else if (type === 3) p.intsrc.push({ type: mem.readU8(off + 1), bus: mem.readU8(off + 4), srcIrq: mem.readU8(off + 5), dstApic: mem.readU8(off + 6), dstPin: mem.readU8(off + 7) });
    else if (type === 4) p.lint.push({ type: mem.readU8(off + 1), dstApic: mem.readU8(off + 6), dstPin: mem.readU8(off + 7) });
    else throw new Error(`unknown MP entry type ${type}`);
    off += 8;
  }
  p.end = off;
  p.seen = seen;
  return p;
}

for (const vcpus of [1, 4, MAX_VCPUS]) {
  t.test(`MP table for ${vcpus} vCPU(s)`, async (t) => {
    const mem = GuestMemory.forTest(guestRegions(256 * MiB));
    writeMptable(mem, vcpus);
    const p = parse(mem);
    t.equal(p.mpfLength, 1, 'floating pointer length 1 paragraph');
    t.equal(p.mpfSpec, 4, 'MP spec 1.4');
    t.equal(p.mpfSum, 0, 'floating pointer checksum');
    t.equal(p.signature, 'PCMP');
    t.equal(p.tableSum, 0, 'configuration table checksum');
    t.ok(p.table + p.length <= 0xa0000, 'table ends inside the EBDA');
    t.equal(p.end, p.table + p.length, 'entries fill the table exactly');
    t.equal(p.seen, p.count, 'entry count in the header');
    t.equal(p.count, vcpus + 1 + 1 + 24 + 2);
    t.equal(p.lapic, LAPIC_START);
    t.equal(p.cpus.length, vcpus);
    t.same(p.cpus.map((c) => c.apicId), Array.from({ length: vcpus }, (_, i) => i), 'APIC ids 0..n-1');
    t.ok(p.cpus.every((c) => c.version === 0x14), 'APIC version 0x14');
    t.same(p.cpus.map((c) => c.flags), Array.from({ length: vcpus }, (_, i) => (i === 0 ? 3 : 1)), 'enabled; BSP flag only on cpu 0');
    t.same(p.buses, ['ISA   ']);
    t.same(p.ioapics, [{ id: vcpus, version: 0x14, flags: 1, addr: IOAPIC_START }]);
    t.equal(p.intsrc.length, 24);
    p.intsrc.forEach((e, irq) => {
      if (e.type !== 0 || e.bus !== 0 || e.srcIrq !== irq || e.dstApic !== vcpus || e.dstPin !== irq) t.fail(`IRQ ${irq} entry ${JSON.stringify(e)}`);
    });
    t.same(p.lint, [
      { type: 3, dstApic: 0, dstPin: 0 },
      { type: 1, dstApic: 0xff, dstPin: 1 },
    ], 'ExtINT on LINT0, NMI on LINT1');
  });
}

t.test('vCPU counts outside 1..MAX_VCPUS are refused', async (t) => {
  const mem = GuestMemory.forTest(guestRegions(256 * MiB));
  t.throws(() => writeMptable(mem, 0), { name: 'BootError', message: /vCPU count 0 out of range/ });
  t.throws(() => writeMptable(mem, MAX_VCPUS + 1), { name: 'BootError' });
  t.throws(() => writeMptable(mem, 1.5), { name: 'BootError' });
});
