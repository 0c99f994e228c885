// ACPI tables in guest memory: RSDP found by Linux's scan, checksums, XSDT -> FADT/MADT, FADT -> DSDT, MADT per vCPU.
import t, { type Test } from 'tap';
import { GuestMemory, GuestAddress } from '../../vmm/memory/guest-memory.js';
import { buildE820 } from '../../vmm/arch/x86_64/e820.js';
import { E820_RESERVED } from '../../vmm/arch/x86_64/boot-params.js';
import { IOAPIC_START, LAPIC_START, MAX_VCPUS } from '../../vmm/arch/x86_64/layout.js';
import { writeAcpiTables } from '../../vmm/arch/x86_64/acpi/tables.js';
import { AcpiError } from '../../vmm/arch/x86_64/acpi/errors.js';
import {
  ACPI_AREA_END,
  ACPI_AREA_START,
  ACPI_SLEEP_CONTROL_PORT,
  ACPI_SLEEP_STATUS_PORT,
} from '../../vmm/arch/x86_64/acpi/layout.js';

const MiB = 1024 * 1024;

/** Sum of bytes mod 256, computed here independently of the code under test. */
const sum = (b: Uint8Array): number => b.reduce((s, x) => (s + x) & 0xff, 0);
const ascii = (b: Uint8Array): string => String.fromCharCode(...b);

function guest(bytes = 2 * MiB): GuestMemory {
  return GuestMemory.forTest([{ start: GuestAddress(0), size: bytes }]);
}

/** Linux's RSDP search over the BIOS area: 16-byte steps, signature then the 20-byte checksum. */
function scanForRsdp(mem: GuestMemory): number[] {
  const hits: number[] = [];
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (ascii(mem.readCopy(a, 8)) === 'RSD PTR ' && sum(mem.readCopy(a, 20)) === 0) hits.push(a);
  }
  return hits;
}

/** Reads a whole SDT at addr, checking its signature and that its length stays inside the area. */
function table(t: Test, mem: GuestMemory, addr: number, sig: string): Uint8Array {
  t.equal(ascii(mem.readCopy(addr, 4)), sig, `${sig} signature at 0x${addr.toString(16)}`);
  const len = mem.readU32(addr + 4);
  t.ok(addr >= ACPI_AREA_START && addr + len <= ACPI_AREA_END, `${sig} inside the ACPI area`);
  const bytes = mem.readCopy(addr, len);
  t.equal(sum(bytes), 0, `${sig} checksum: bytes sum to 0`);
  return bytes;
}

function follow(t: Test, mem: GuestMemory) {
  const [rsdp] = scanForRsdp(mem);
  const r = new DataView(mem.readCopy(rsdp!, 36).buffer);
  const xsdtAddr = Number(r.getBigUint64(24, true));
  const xsdt = table(t, mem, xsdtAddr, 'XSDT');
  const xv = new DataView(xsdt.buffer);
  const entries = (xsdt.length - 36) / 8;
  const addrs = Array.from({ length: entries }, (_, i) => Number(xv.getBigUint64(36 + 8 * i, true)));
  const bySig = new Map(addrs.map((a) => [ascii(mem.readCopy(a, 4)), a]));
  return { rsdp: rsdp!, xsdtAddr, entries, bySig };
}

t.test('the RSDP is where Linux scans for it, with both checksums, pointing at the XSDT', async (t) => {
  const mem = guest();
  const layout = writeAcpiTables(mem, { vcpus: 2 });
  const hits = scanForRsdp(mem);
  t.same(hits, [layout.rsdpAddr], 'exactly one RSDP in 0xE0000..0xFFFFF, at the returned address');
  t.equal(layout.rsdpAddr % 16, 0);
  const rsdp = mem.readCopy(layout.rsdpAddr, 36);
  const v = new DataView(rsdp.buffer);
  t.equal(sum(rsdp.subarray(0, 20)), 0, 'ACPI 1.0 checksum over 20 bytes');
  t.equal(sum(rsdp), 0, 'extended checksum over 36 bytes');
  t.equal(v.getUint8(15), 2, 'revision 2 (ACPI 2.0+)');
  t.equal(v.getUint32(20, true), 36, 'length 36');
  t.equal(ascii(rsdp.subarray(9, 15)), 'KQUBES', 'OEM id');
  t.equal(Number(v.getBigUint64(24, true)), layout.xsdtAddr, 'XsdtAddress');
});

t.test('the XSDT lists the FADT and the MADT; the FADT points at the DSDT', async (t) => {
  const mem = guest();
  const layout = writeAcpiTables(mem, { vcpus: 1 });
  const { entries, bySig } = follow(t, mem);
  t.equal(entries, 2);
  t.equal(bySig.get('FACP'), layout.fadtAddr);
  t.equal(bySig.get('APIC'), layout.madtAddr);

  const fadt = table(t, mem, layout.fadtAddr, 'FACP');
  const f = new DataView(fadt.buffer);
  t.equal(fadt.length, 276, 'FADT revision 6 is 276 bytes');
  t.equal(f.getUint8(8), 6, 'FADT revision');
  t.equal(f.getUint32(40, true), layout.dsdtAddr, 'DSDT (32-bit)');
  t.equal(Number(f.getBigUint64(140, true)), layout.dsdtAddr, 'X_DSDT');
  const dsdt = table(t, mem, layout.dsdtAddr, 'DSDT');
  t.ok(dsdt.length > 36, 'DSDT has AML');
});

t.test('the FADT is hardware-reduced with byte-wide sleep registers in I/O space and the i8042 reset', async (t) => {
  const mem = guest();
  const layout = writeAcpiTables(mem, { vcpus: 1 });
  const f = new DataView(mem.readCopy(layout.fadtAddr, 276).buffer);
  const flags = f.getUint32(112, true);
  t.ok(flags & (1 << 20), 'HW_REDUCED_ACPI');
  t.ok(flags & (1 << 10), 'RESET_REG_SUP');
  const iapc = f.getUint16(109, true);
  t.ok(iapc & (1 << 1), '8042 present (Linux keeps probing the i8042)');
  t.notOk(iapc & (1 << 0), 'no undescribed legacy devices');
  t.ok(iapc & (1 << 2), 'no VGA');
  t.notOk(iapc & (1 << 3), 'MSI allowed');
  t.equal(f.getUint16(46, true), 0, 'no SCI');
  t.equal(f.getUint32(36, true), 0, 'no FACS');
  const gas = (off: number) => ({
    space: f.getUint8(off),
    width: f.getUint8(off + 1),
    bitOffset: f.getUint8(off + 2),
    access: f.getUint8(off + 3),
    addr: Number(f.getBigUint64(off + 4, true)),
  });
  t.same(gas(244), { space: 1, width: 8, bitOffset: 0, access: 1, addr: ACPI_SLEEP_CONTROL_PORT }, 'SLEEP_CONTROL_REG');
  t.same(gas(256), { space: 1, width: 8, bitOffset: 0, access: 1, addr: ACPI_SLEEP_STATUS_PORT }, 'SLEEP_STATUS_REG');
  t.same(gas(116), { space: 1, width: 8, bitOffset: 0, access: 1, addr: 0x64 }, 'RESET_REG: i8042 command port');
  t.equal(f.getUint8(128), 0xfe, 'RESET_VALUE: pulse CPU reset');
  t.equal(ascii(mem.readCopy(layout.fadtAddr + 268, 8)), 'KQUBESVM', 'hypervisor vendor id');
});

t.test('the MADT has one enabled local APIC per vCPU and one IO-APIC at GSI 0', async (t) => {
  for (const n of [1, 4, MAX_VCPUS]) {
    const mem = guest();
    const layout = writeAcpiTables(mem, { vcpus: n });
    const madt = table(t, mem, layout.madtAddr, 'APIC');
    const v = new DataView(madt.buffer);
    t.equal(v.getUint32(36, true), LAPIC_START, 'local APIC address 0xfee00000');
    const lapics: { uid: number; id: number; flags: number }[] = [];
    const ioapics: { id: number; addr: number; gsiBase: number }[] = [];
    const others: number[] = [];
    let off = 44;
    while (off < madt.length) {
      const type = v.getUint8(off);
      const len = v.getUint8(off + 1);
      t.ok(len >= 2 && off + len <= madt.length, 'entry fits in the table');
      if (type === 0) lapics.push({ uid: v.getUint8(off + 2), id: v.getUint8(off + 3), flags: v.getUint32(off + 4, true) });
      else if (type === 1) ioapics.push({ id: v.getUint8(off + 2), addr: v.getUint32(off + 4, true), gsiBase: v.getUint32(off + 8, true) });
      else others.push(type);
      off += len;
    }
    t.equal(off, madt.length, 'entries end exactly at the table length');
    t.same(lapics, Array.from({ length: n }, (_, i) => ({ uid: i, id: i, flags: 1 })), `${n} enabled local APICs, ids 0..${n - 1}`);
    t.same(ioapics, [{ id: 0, addr: IOAPIC_START, gsiBase: 0 }], 'one IO-APIC');
    t.same(others, [], 'no interrupt source overrides (KVM routes GSI n to pin n)');
  }
});

t.test('the tables lie in e820-reserved memory and do not overlap', async (t) => {
  const mem = guest();
  const l = writeAcpiTables(mem, { vcpus: MAX_VCPUS });
  const spans = [
    [l.rsdpAddr, 36],
    [l.xsdtAddr, mem.readU32(l.xsdtAddr + 4)],
    [l.fadtAddr, mem.readU32(l.fadtAddr + 4)],
    [l.dsdtAddr, mem.readU32(l.dsdtAddr + 4)],
    [l.madtAddr, mem.readU32(l.madtAddr + 4)],
  ].sort((a, b) => a[0]! - b[0]!);
  for (let i = 1; i < spans.length; i++) t.ok(spans[i - 1]![0]! + spans[i - 1]![1]! <= spans[i]![0]!, 'no overlap');
  t.ok(l.end <= ACPI_AREA_END && l.end >= spans.at(-1)![0]! + spans.at(-1)![1]!, 'end covers every table');
  const reserved = buildE820(mem).filter((e) => e.type === E820_RESERVED);
  t.ok(reserved.some((e) => e.addr <= ACPI_AREA_START && e.addr + e.size >= l.end), 'an e820 reserved entry covers the tables');
});

t.test('bad vCPU counts and too little guest RAM are refused with AcpiError', async (t) => {
  t.throws(() => writeAcpiTables(guest(), { vcpus: 0 }), AcpiError);
  t.throws(() => writeAcpiTables(guest(), { vcpus: MAX_VCPUS + 1 }), AcpiError);
  t.throws(() => writeAcpiTables(guest(), { vcpus: 1.5 }), AcpiError);
  t.throws(() => writeAcpiTables(guest(512 * 1024), { vcpus: 1 }), AcpiError, 'RAM ends below the BIOS area');
});

t.test('virtio-mmio devices and the legacy devices reach the DSDT', async (t) => {
  const mem = guest();
  const plain = writeAcpiTables(mem, { vcpus: 1, serial: false, i8042: false });
  const plainLen = mem.readU32(plain.dsdtAddr + 4);
  const mem2 = guest();
  const l = writeAcpiTables(mem2, { vcpus: 1, virtioMmio: [{ base: 0xd000_0000, size: 0x1000, irq: 5 }] });
  const dsdt = table(t, mem2, l.dsdtAddr, 'DSDT');
  const text = ascii(dsdt);
  t.ok(text.includes('LNRO0005'), 'virtio-mmio hardware id');
  t.ok(text.includes('COM1') && text.includes('PS2_'), 'legacy devices described by default');
  t.ok(dsdt.length > plainLen, 'bigger than the \\_S5_-only DSDT');
  follow(t, mem2);
});
