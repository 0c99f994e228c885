// Bus: range insertion, overlap rejection, binary-search lookup at range edges, straddling accesses.
import t from 'tap';
import { Bus, BusError } from '../../vmm/bus/bus.js';
import { BusWindow } from '../../vmm/bus/bus-window.js';
import type { BusDevice } from '../../vmm/bus/bus-device.js';

/** A device that records the offsets it sees and answers reads with its own tag byte. */
class Recorder implements BusDevice {
  readonly reads: number[] = [];
  readonly writes: [number, number[]][] = [];
  constructor(readonly tag: number) {}
  read(offset: number, data: Uint8Array): void {
    this.reads.push(offset);
    data.fill(this.tag);
  }
  write(offset: number, data: Uint8Array): void {
    this.writes.push([offset, [...data]]);
  }
}

t.test('delivers accesses with offsets relative to the base', (t) => {
  const bus = new Bus('pio');
  const a = new Recorder(0xaa);
  const b = new Recorder(0xbb);
  bus.insert(a, 0x3f8, 8, 'com1');
  bus.insert(b, 0x60, 1, 'kbd');
  const data = new Uint8Array(1);
  t.equal(bus.read(0x3fd, data), true);
  t.same([...data], [0xaa]);
  t.same(a.reads, [5]);
  t.equal(bus.write(0x60, Uint8Array.of(0xfe)), true);
  t.same(b.writes, [[0, [0xfe]]]);
  t.end();
});

t.test('lookup edges: first byte, last byte, one past each end', (t) => {
  const bus = new Bus();
  const devs = [0x100, 0x200, 0x300, 0x1000].map((base) => {
    const d = new Recorder(base >> 8);
    bus.insert(d, base, 0x10, `dev${base.toString(16)}`);
    return d;
  });
  for (const [i, base] of [0x100, 0x200, 0x300, 0x1000].entries()) {
    t.equal(bus.find(base)?.device, devs[i], `base of ${base.toString(16)}`);
    t.equal(bus.find(base + 0xf)?.device, devs[i], `last byte of ${base.toString(16)}`);
    t.equal(bus.find(base - 1), undefined, `byte before ${base.toString(16)}`);
    t.equal(bus.find(base + 0x10), undefined, `byte after ${base.toString(16)}`);
  }
  t.equal(bus.find(0), undefined);
  t.equal(bus.read(0xffff, new Uint8Array(1)), false);
  t.end();
});

t.test('an access straddling the end of a range is not delivered', (t) => {
  const bus = new Bus('mmio');
  const d = new Recorder(1);
  bus.insert(d, 0xd000_0000, 0x200, 'virtio-mmio@0');
  const data = new Uint8Array(4).fill(0x55);
  t.equal(bus.read(0xd000_01fc, data), true, 'last 4 bytes fit');
  t.equal(bus.read(0xd000_01fe, data.fill(0x55)), false, 'straddles the end');
  t.same([...data], [0x55, 0x55, 0x55, 0x55], 'data untouched when undelivered');
  t.equal(bus.write(0xd000_01ff, new Uint8Array(2)), false);
  t.equal(bus.read(0xcfff_fffe, new Uint8Array(4)), false, 'starts before the range');
  t.same(d.reads, [0x1fc]);
  t.same(d.writes, []);
  t.end();
});

t.test('rejects overlaps (naming both devices), empty and invalid ranges', (t) => {
  const bus = new Bus('pio');
  bus.insert(new Recorder(0), 0x3f8, 8, 'com1');
  t.throws(() => bus.insert(new Recorder(0), 0x3f0, 9, 'floppy'), { name: 'BusError', message: /floppy.*overlaps com1/ });
  t.throws(() => bus.insert(new Recorder(0), 0x3ff, 1, 'late'), /late.*overlaps com1/);
  t.throws(() => bus.insert(new Recorder(0), 0x3f9, 2, 'inside'), /inside.*overlaps com1/);
  t.throws(() => bus.insert(new Recorder(0), 0x300, 0x200, 'around'), /around.*overlaps com1/);
  t.throws(() => bus.insert(new Recorder(0), 0x400, 0, 'empty'), BusError);
  t.throws(() => bus.insert(new Recorder(0), -1, 1, 'negative'), /negative/);
  t.throws(() => bus.insert(new Recorder(0), 16.5, 1, 'fraction'), /fraction/);
  // Adjacent ranges on both sides are fine.
  bus.insert(new Recorder(0), 0x3f0, 8, 'below');
  bus.insert(new Recorder(0), 0x400, 1, 'above');
  t.same(bus.entries().map((e) => [e.name, e.base, e.len]), [
    ['below', 0x3f0, 8],
    ['com1', 0x3f8, 8],
    ['above', 0x400, 1],
  ]);
  t.end();
});

t.test('entries are sorted whatever the insertion order, and lookups agree with a linear scan', (t) => {
  const bus = new Bus();
  const bases = [0x90, 0x10, 0x50, 0x30, 0x70];
  for (const base of bases) bus.insert(new Recorder(base), base, 0x10, `r${base}`);
  t.same(bus.entries().map((e) => e.base), [0x10, 0x30, 0x50, 0x70, 0x90]);
  for (let addr = 0; addr < 0xb0; addr++) {
    const linear = bus.entries().find((e) => addr >= e.base && addr < e.base + e.len);
    if (bus.find(addr) !== linear) t.fail(`lookup of ${addr} disagrees with a linear scan`);
  }
  t.end();
});

t.test('BusWindow forwards to a device with an added offset', (t) => {
  const bus = new Bus('pio');
  const d = new Recorder(7);
  bus.insert(new BusWindow(d, 0), 0x60, 1, 'data');
  bus.insert(new BusWindow(d, 4), 0x64, 1, 'command');
  bus.write(0x64, Uint8Array.of(0xaa));
  bus.write(0x60, Uint8Array.of(0x01));
  t.same(d.writes, [[4, [0xaa]], [0, [0x01]]]);
  t.equal(bus.read(0x61, new Uint8Array(1)), false, 'the port between is not claimed');
  t.end();
});
