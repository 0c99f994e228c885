// x86-64 memory map: RAM split around the MMIO gap, boot structures that do not overlap, device windows and IRQs.
import t from 'tap';
import * as L from '../../vmm/arch/x86_64/layout.js';
import { mptableSize } from '../../vmm/arch/x86_64/mptable.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

t.test('guestRegions keeps small guests in one region from 0', async (t) => {
  t.same(L.guestRegions(256 * MiB), [{ start: 0, size: 256 * MiB }]);
  t.same(L.guestRegions(L.MMIO_GAP_START), [{ start: 0, size: L.MMIO_GAP_START }]);
});

t.test('guestRegions continues RAM past the gap at 4 GiB', async (t) => {
  const regions = L.guestRegions(4 * GiB);
  t.same(regions, [
    { start: 0, size: 0xc000_0000 },
    { start: 4 * GiB, size: 1 * GiB },
  ]);
  t.equal(regions.reduce((n, r) => n + r.size, 0), 4 * GiB, 'no RAM lost to the gap');
});

t.test('guestRegions refuses sizes that are not whole pages', async (t) => {
  t.throws(() => L.guestRegions(0), RangeError);
  t.throws(() => L.guestRegions(-4096), RangeError);
  t.throws(() => L.guestRegions(256 * MiB + 1), RangeError);
  t.throws(() => L.guestRegions(Number.NaN), RangeError);
});

t.test('boot structures in low memory do not overlap and stay below the EBDA', async (t) => {
  const ranges: Array<[string, number, number]> = [
    ['gdt', L.BOOT_GDT_START, L.BOOT_GDT_ENTRIES * 8],
    ['idt', L.BOOT_IDT_START, 8],
    ['zero page', L.ZERO_PAGE_START, L.ZERO_PAGE_SIZE],
    ['stack', L.BOOT_STACK_POINTER - 0x800, 0x800],
    ['pml4', L.PML4_START, 4096],
    ['pdpt', L.PDPTE_START, 4096],
    ['pd', L.PDE_START, L.PDE_COUNT * 4096],
    ['cmdline', L.CMDLINE_START, L.CMDLINE_MAX_SIZE],
  ];
  for (const [name, start, size] of ranges) t.ok(start + size <= L.EBDA_START, `${name} ends below the EBDA`);
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const [a, as, al] = ranges[i]!;
      const [b, bs, bl] = ranges[j]!;
      t.ok(as + al <= bs || bs + bl <= as, `${a} and ${b} do not overlap`);
    }
  }
  t.ok(L.MPTABLE_START >= L.EBDA_START && L.MPTABLE_START + mptableSize(L.MAX_VCPUS) <= L.LEGACY_HOLE_START,
    'the MP table for MAX_VCPUS fits in the EBDA kilobyte');
});

t.test('devices sit in the MMIO gap, IRQs avoid COM1 and the i8042', async (t) => {
  t.ok(L.VIRTIO_MMIO_BASE >= L.MMIO_GAP_START);
  const last = L.virtioMmioAddress(L.VIRTIO_MMIO_MAX_DEVICES - 1);
  t.ok(last + L.VIRTIO_MMIO_DEVICE_SIZE <= L.IOAPIC_START, 'virtio window ends below the IO-APIC');
  t.ok(L.IOAPIC_START < L.LAPIC_START && L.LAPIC_START < L.MMIO_GAP_END);
  t.equal(L.virtioMmioAddress(1), 0xd000_1000);
  const irqs = Array.from({ length: L.VIRTIO_MMIO_MAX_DEVICES }, (_, i) => L.virtioMmioIrq(i));
  t.equal(irqs[0], 5);
  t.equal(irqs.at(-1), 23);
  t.notOk(irqs.includes(L.SERIAL_COM1_IRQ));
  t.notOk(irqs.includes(L.I8042_IRQ));
  t.throws(() => L.virtioMmioAddress(L.VIRTIO_MMIO_MAX_DEVICES), RangeError);
  t.throws(() => L.virtioMmioIrq(-1), RangeError);
});
