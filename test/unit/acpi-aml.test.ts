// AML encodings, checked byte by byte against the ACPI 6.5 grammar (chapter 20): \_S5_, COM1, i8042, virtio-mmio.
import t from 'tap';
import {
  amlBuffer,
  amlDevice,
  amlEisaId,
  amlInteger,
  amlName,
  amlNameSeg,
  amlNameString,
  amlPackage,
  amlPkgLength,
  amlString,
} from '../../vmm/arch/x86_64/acpi/aml.js';
import { buildDsdt, com1Aml, i8042Aml, s5Aml, virtioMmioAml } from '../../vmm/arch/x86_64/acpi/dsdt.js';
import { AcpiError } from '../../vmm/arch/x86_64/acpi/errors.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const ch = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

t.test('Name (_S5_, Package () { 5, 0, 0, 0 }) encodes as the spec says', async (t) => {
  t.same(
    s5Aml(),
    bytes(
      0x08, // NameOp
      ...ch('_S5_'), // NameString: one NameSeg
      0x12, // PackageOp
      0x07, // PkgLength: itself (1) + NumElements (1) + elements (2 + 1 + 1 + 1)
      0x04, // NumElements
      0x0a, 0x05, // BytePrefix 5: SLP_TYPa = 5
      0x00, // ZeroOp: SLP_TYPb
      0x00, // ZeroOp: reserved
      0x00, // ZeroOp: reserved
    ),
  );
});

t.test('the DSDT is a header plus \\_S5_, COM1 and the i8042 by default, checksummed', async (t) => {
  const dsdt = buildDsdt();
  t.equal(String.fromCharCode(...dsdt.subarray(0, 4)), 'DSDT');
  t.equal(new DataView(dsdt.buffer).getUint32(4, true), dsdt.length);
  t.equal(dsdt[8], 2, 'revision 2: 64-bit integers');
  t.same(dsdt.subarray(36), bytes(...s5Aml(), ...com1Aml(), ...i8042Aml()));
  t.equal(dsdt.reduce((s, x) => (s + x) & 0xff, 0), 0);
  t.same(buildDsdt({ serial: false, i8042: false }).subarray(36), s5Aml(), 'only \\_S5_ when the legacy devices are left out');
});

t.test('EISA ids pack three letters and four hex digits', async (t) => {
  t.same(amlEisaId('PNP0501'), bytes(0x0c, 0x41, 0xd0, 0x05, 0x01), 'PNP0501 = 0x0105D041');
  t.same(amlEisaId('PNP0303'), bytes(0x0c, 0x41, 0xd0, 0x03, 0x03), 'PNP0303 = 0x0303D041');
  t.same(amlEisaId('PNP0A03'), bytes(0x0c, 0x41, 0xd0, 0x0a, 0x03), 'PNP0A03 = 0x030AD041');
  for (const bad of ['PNP050', 'pnp0501', 'PN00501', 'PNP05G1']) t.throws(() => amlEisaId(bad), AcpiError, bad);
});

t.test('COM1 and the i8042: PNP ids, fixed I/O ports and their ISA IRQ as an edge GSI', async (t) => {
  const io = (base: number, len: number) => [0x47, 0x01, base & 0xff, base >> 8, base & 0xff, base >> 8, 0x01, len];
  const irq = (n: number) => [0x89, 0x06, 0x00, 0x03, 0x01, n, 0x00, 0x00, 0x00];
  const crs = (...descs: number[][]) => {
    const list = [...descs.flat(), 0x79, 0x00];
    return [0x08, ...ch('_CRS'), 0x11, 3 + list.length, 0x0a, list.length, ...list];
  };
  const device = (name: string, terms: number[]) => {
    const body = [0x5c, 0x2e, ...ch('_SB_'), ...ch(name), ...terms];
    return bytes(0x5b, 0x82, body.length + 1, ...body);
  };
  t.same(
    com1Aml(),
    device('COM1', [0x08, ...ch('_HID'), 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x08, ...ch('_UID'), 0x00, ...crs(io(0x3f8, 8), irq(4))]),
  );
  t.same(i8042Aml(), device('PS2_', [0x08, ...ch('_HID'), 0x0c, 0x41, 0xd0, 0x03, 0x03, ...crs(io(0x60, 1), io(0x64, 1), irq(1))]));
});

t.test('integers use the shortest encoding', async (t) => {
  t.same(amlInteger(0), bytes(0x00), 'ZeroOp');
  t.same(amlInteger(1), bytes(0x01), 'OneOp');
  t.same(amlInteger(5), bytes(0x0a, 0x05), 'BytePrefix');
  t.same(amlInteger(0xff), bytes(0x0a, 0xff));
  t.same(amlInteger(0x100), bytes(0x0b, 0x00, 0x01), 'WordPrefix, little-endian');
  t.same(amlInteger(0xfec00000), bytes(0x0c, 0x00, 0x00, 0xc0, 0xfe), 'DWordPrefix');
  t.throws(() => amlInteger(-1), AcpiError);
  t.throws(() => amlInteger(2 ** 32), AcpiError);
});

t.test('PkgLength counts its own bytes and switches to the multi-byte form past 63', async (t) => {
  t.same(amlPkgLength(0), bytes(0x01));
  t.same(amlPkgLength(62), bytes(0x3f), 'largest one-byte form: 63');
  // 63 content bytes + 2 length bytes = 65 = 0x41: lead 0x40 | 0x1, then 0x41 >> 4 = 0x04.
  t.same(amlPkgLength(63), bytes(0x41, 0x04));
  // 4093 + 2 = 4095 = 0xfff: lead 0x4f, then 0xff.
  t.same(amlPkgLength(4093), bytes(0x4f, 0xff), 'largest two-byte form');
  // 4094 + 3 = 4097 = 0x1001: lead 0x80 | 0x1, then 0x00, 0x01.
  t.same(amlPkgLength(4094), bytes(0x81, 0x00, 0x01));
  t.throws(() => amlPkgLength(0x1000_0000), AcpiError);
});

t.test('a package of more than 63 bytes gets a two-byte PkgLength', async (t) => {
  const elems = Array.from({ length: 40 }, () => amlInteger(7)); // 80 bytes
  const pkg = amlPackage(elems);
  t.equal(pkg[0], 0x12);
  const total = 2 + 1 + 80; // PkgLength bytes + NumElements + elements
  t.same(pkg.subarray(1, 3), bytes(0x40 | (total & 0xf), total >> 4));
  t.equal(pkg[3], 40);
  t.equal(pkg.length, 1 + total);
});

t.test('names must be 4-character NameSegs', async (t) => {
  t.same(amlNameSeg('_S5_'), bytes(...ch('_S5_')));
  t.same(amlName('ABC1', amlInteger(0)), bytes(0x08, ...ch('ABC1'), 0x00));
  for (const bad of ['_S5', '_s5_', '1ABC', 'ABCDE', '']) t.throws(() => amlNameSeg(bad), AcpiError, bad);
});

t.test('name strings: relative, rooted, and rooted two-segment paths', async (t) => {
  t.same(amlNameString('_S5_'), bytes(...ch('_S5_')));
  t.same(amlNameString('\\_S5_'), bytes(0x5c, ...ch('_S5_')), 'RootChar');
  t.same(amlNameString('\\_SB_.V000'), bytes(0x5c, 0x2e, ...ch('_SB_'), ...ch('V000')), 'RootChar DualNamePrefix');
  t.throws(() => amlNameString('\\_SB_.PCI0.V000'), AcpiError);
});

t.test('strings, buffers and devices', async (t) => {
  t.same(amlString('LNRO0005'), bytes(0x0d, ...ch('LNRO0005'), 0x00), 'StringPrefix ... NUL');
  t.same(amlBuffer(bytes(0x79, 0x00)), bytes(0x11, 0x05, 0x0a, 0x02, 0x79, 0x00), "BufferOp PkgLength (counts itself) BufferSize bytes");
  t.same(amlDevice('\\_SB_.V000', []), bytes(0x5b, 0x82, 0x0b, 0x5c, 0x2e, ...ch('_SB_'), ...ch('V000')), 'ExtOp DeviceOp PkgLength name');
});

t.test('a virtio-mmio device: LNRO0005 with its window and edge/high GSI in _CRS', async (t) => {
  const aml = virtioMmioAml(1, { base: 0xd000_1000, size: 0x1000, irq: 6 });
  const crs = bytes(
    0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00, // Memory32Fixed (ReadWrite, 0xd0001000, 0x1000)
    0x89, 0x06, 0x00, 0x03, 0x01, 0x06, 0x00, 0x00, 0x00, // Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 6 }
    0x79, 0x00, // End Tag
  );
  const terms = [
    bytes(0x08, ...ch('_HID'), 0x0d, ...ch('LNRO0005'), 0x00),
    bytes(0x08, ...ch('_UID'), 0x01),
    bytes(0x08, ...ch('_CCA'), 0x01),
    bytes(0x08, ...ch('_CRS'), 0x11, 1 + 2 + crs.length, 0x0a, crs.length, ...crs),
  ];
  const name = bytes(0x5c, 0x2e, ...ch('_SB_'), ...ch('V001'));
  const body = [...name, ...terms.flatMap((x) => [...x])];
  t.ok(body.length + 1 > 63, 'long enough to need the two-byte PkgLength');
  const total = body.length + 2;
  t.same(aml, bytes(0x5b, 0x82, 0x40 | (total & 0x0f), total >> 4, ...body));
  t.throws(() => virtioMmioAml(0, { base: 0xd000_0000, size: 0x1000, irq: 24 }), AcpiError, 'IRQ past the IO-APIC');
  t.throws(() => virtioMmioAml(0, { base: 2 ** 32, size: 0x1000, irq: 5 }), AcpiError, 'base past 32 bits');
});

t.test('the DSDT holds \\_S5_ then one device per virtio-mmio window, in order', async (t) => {
  const devs = [
    { base: 0xd000_0000, size: 0x1000, irq: 5 },
    { base: 0xd000_1000, size: 0x1000, irq: 6 },
  ];
  const dsdt = buildDsdt({ serial: false, i8042: false, virtioMmio: devs });
  const want = [...s5Aml(), ...virtioMmioAml(0, devs[0]!), ...virtioMmioAml(1, devs[1]!)];
  t.same(dsdt.subarray(36), bytes(...want));
  t.equal(dsdt.reduce((s, x) => (s + x) & 0xff, 0), 0);
});
