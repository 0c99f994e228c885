// virtio-rng: buffers filled with random bytes, used lengths, the per-request bound, empty requests.
import t from 'tap';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { VirtioMmioTransport, MmioReg } from '../../vmm/devices/virtio/mmio/transport.js';
import { RNG_MAX_BYTES_PER_REQUEST, VirtioRng } from '../../vmm/devices/virtio/rng/device.js';
import { VIRTIO_F_VERSION_1, VIRTIO_ID_RNG } from '../../vmm/devices/virtio/constants.js';
import { VirtioTestDriver } from '../helpers/virtio-driver.js';

const RAM = 0x40_0000;

function setup() {
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: RAM }]);
  const logs: string[] = [];
  const irq = { count: 0, trigger() { this.count++; } };
  const transport = new VirtioMmioTransport(new VirtioRng((l) => logs.push(l)), mem, irq, (l) => logs.push(l));
  const drv = new VirtioTestDriver(transport, mem, { base: 0x1000, size: RAM - 0x1000 });
  const [q] = drv.init();
  return { drv, q: q!, irq, logs };
}

t.test('identity and features', async (t) => {
  const { drv } = setup();
  t.equal(drv.readReg(MmioReg.DEVICE_ID), VIRTIO_ID_RNG);
  t.equal(drv.deviceFeatures(), VIRTIO_F_VERSION_1);
  t.same(drv.maxQueueSizes(), [256]);
});

t.test('fills writable buffers with non-constant bytes', async (t) => {
  const { q, irq } = setup();
  const a = q.addChain([{ writable: 64 }, { writable: 200 }]);
  const b = q.addChain([{ writable: 32 }]);
  q.kick();
  t.equal(irq.count, 1, 'one interrupt for the batch');
  t.same(q.takeUsed(), [{ id: a.head, len: 264 }, { id: b.head, len: 32 }]);
  const bytes = q.readWritten(a, 264);
  t.ok(new Set(bytes).size > 32, 'many distinct byte values');
  t.notSame(bytes.subarray(0, 32), q.readWritten(b, 32), 'two requests differ');
  t.ok(bytes.subarray(64).some((x) => x !== 0), 'the second buffer is filled too');
});

t.test('a request gets at most RNG_MAX_BYTES_PER_REQUEST bytes', async (t) => {
  const { q } = setup();
  const big = RNG_MAX_BYTES_PER_REQUEST + 4096;
  const c = q.addChain([{ writable: big }]);
  q.kick();
  t.same(q.takeUsed(), [{ id: c.head, len: RNG_MAX_BYTES_PER_REQUEST }]);
  const out = q.readWritten(c, big);
  t.ok(out.subarray(RNG_MAX_BYTES_PER_REQUEST).every((x) => x === 0), 'bytes past the bound untouched');
});

t.test('a request with only readable buffers is returned empty and logged once', async (t) => {
  const { q, logs } = setup();
  const c = q.addChain([{ readable: new Uint8Array(8) }]);
  const d = q.addChain([{ readable: new Uint8Array(8) }]);
  q.kick();
  t.same(q.takeUsed(), [{ id: c.head, len: 0 }, { id: d.head, len: 0 }]);
  t.equal(logs.length, 1);
  t.match(logs[0], /no writable buffer/);
});
