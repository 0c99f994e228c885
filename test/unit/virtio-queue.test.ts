// Split virtqueue and chain-io: popping validated copies, used ring updates, indirect tables, index wrap, hostile rings.
import t from 'tap';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { Queue, QueueError } from '../../vmm/devices/virtio/queue.js';
import { readChain, writableLength, writeChain } from '../../vmm/devices/virtio/chain-io.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../vmm/devices/virtio/constants.js';
import { DriverQueue, VirtioTestDriver } from '../helpers/virtio-driver.js';

const RAM = 0x10_0000;

/** A queue of `size` set up in test memory, and the driver-side view of the same rings. */
function setup(size = 8, indirect = false): { mem: GuestMemory; q: Queue; dq: DriverQueue } {
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: RAM }]);
  const noBus = { read: () => {}, write: () => {} };
  const drv = new VirtioTestDriver(noBus, mem, { base: 0x1000, size: RAM - 0x1000 });
  const desc = drv.alloc.alloc(16 * size, 16);
  const avail = drv.alloc.alloc(6 + 2 * size, 2);
  const used = drv.alloc.alloc(6 + 8 * size, 4);
  const q = new Queue(size);
  Object.assign(q, { size, descTable: desc, availRing: avail, usedRing: used, ready: true, indirectEnabled: indirect });
  return { mem, q, dq: new DriverQueue(drv, 0, size, desc, avail, used) };
}

t.test('constructor refuses a max size that is not a power of two', async (t) => {
  t.throws(() => new Queue(3), QueueError);
  t.throws(() => new Queue(0), QueueError);
  t.throws(() => new Queue(65536), QueueError);
  t.equal(new Queue(256).size, 256);
});

t.test('isValid checks size and that the rings lie in RAM, aligned', async (t) => {
  const { mem, q } = setup(8);
  t.ok(q.isValid(mem));
  q.size = 6;
  t.notOk(q.isValid(mem), 'size not a power of two');
  q.size = 16;
  t.notOk(q.isValid(mem), 'size above max');
  q.size = 8;
  const used = q.usedRing;
  q.usedRing = RAM - 8;
  t.notOk(q.isValid(mem), 'used ring straddles the end of RAM');
  t.match(q.invalidReason(mem), /used ring .* outside guest RAM/);
  q.usedRing = used + 2;
  t.notOk(q.isValid(mem), 'used ring misaligned');
  q.usedRing = used;
  q.descTable = 2 ** 60;
  t.notOk(q.isValid(mem), 'descriptor table far outside RAM');
});

t.test('pop returns chains in order with copied descriptors; addUsed publishes', async (t) => {
  const { mem, q, dq } = setup(8);
  t.equal(q.pop(mem), null, 'empty queue');
  const a = dq.addChain([{ readable: Uint8Array.of(1, 2, 3) }, { writable: 5 }]);
  const b = dq.addChain([{ writable: 2 }]);
  const ca = q.pop(mem)!;
  t.equal(ca.head, a.head);
  t.same(ca.descriptors.map((d) => [d.addr, d.len, d.writable]), [[a.buffers[0]!.addr, 3, false], [a.buffers[1]!.addr, 5, true]]);
  // the guest rewrites the descriptor after we read it: our copy must not change
  dq.writeDescriptor(a.head, { addr: 0, len: 1, flags: 0, next: 0 });
  t.equal(ca.descriptors[0]!.len, 3);
  t.same(readChain(mem, ca, 100), Uint8Array.of(1, 2, 3));
  t.equal(writableLength(ca), 5);
  t.equal(writeChain(mem, ca, Uint8Array.of(9, 8, 7, 6, 5, 4)), 5, 'stops when the buffers are full');
  t.same(dq.readWritten(a, 5), Uint8Array.of(9, 8, 7, 6, 5));
  q.addUsed(mem, ca.head, 5);
  t.same(dq.takeUsed(), [{ id: a.head, len: 5 }]);
  const cb = q.pop(mem)!;
  t.equal(cb.head, b.head);
  t.equal(q.pop(mem), null);
});

t.test('readChain enforces its byte limit', async (t) => {
  const { mem, q, dq } = setup(8);
  dq.addChain([{ readable: new Uint8Array(10) }, { readable: new Uint8Array(10) }]);
  t.throws(() => readChain(mem, q.pop(mem)!, 19), QueueError);
});

t.test('undoPop makes the next pop return the same chain, once', async (t) => {
  const { mem, q, dq } = setup(8);
  const a = dq.addChain([{ writable: 4 }]);
  t.equal(q.pop(mem)!.head, a.head);
  q.undoPop();
  t.throws(() => q.undoPop(), QueueError, 'only once');
  t.equal(q.pop(mem)!.head, a.head);
  t.equal(q.pop(mem), null);
});

t.test('indices wrap at 65536', async (t) => {
  const { mem, q, dq } = setup(4);
  for (let i = 0; i < 70_000; i++) {
    const head = i % 4;
    dq.writeDescriptor(head, { addr: 0x8000, len: 1, flags: VIRTQ_DESC_F_WRITE, next: 0 });
    dq.pushAvail(head);
    const got = q.pop(mem)!;
    if (got.head !== head) { t.fail(`round ${i}: head ${got.head} != ${head}`); return; }
    q.addUsed(mem, got.head, 1);
    const used = dq.takeUsed();
    if (used.length !== 1 || used[0]!.id !== head) { t.fail(`round ${i}: used entry wrong`); return; }
  }
  t.equal(dq.availIdx, 70_000 & 0xffff);
  t.equal(dq.usedIdx, 70_000 & 0xffff);
  t.equal(q.pop(mem), null);
});

t.test('indirect tables are flattened when negotiated and refused otherwise', async (t) => {
  const on = setup(8, true);
  const c = on.dq.addIndirectChain([{ readable: Uint8Array.of(7) }, { writable: 3 }, { writable: 2 }]);
  const got = on.q.pop(on.mem)!;
  t.equal(got.head, c.head);
  t.same(got.descriptors.map((d) => [d.len, d.writable]), [[1, false], [3, true], [2, true]]);
  const off = setup(8, false);
  off.dq.addIndirectChain([{ writable: 3 }]);
  t.throws(() => off.q.pop(off.mem), /INDIRECT_DESC was not negotiated/);
});

t.test('hostile chains are QueueErrors, never other exceptions', async (t) => {
  const cases: [string, (s: ReturnType<typeof setup>) => void, RegExp][] = [
    ['loop', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 1 });
      dq.writeDescriptor(1, { addr: 0x8000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 0 });
      dq.pushAvail(0);
    }, /longer than queue size/],
    ['self loop', ({ dq }) => {
      dq.writeDescriptor(3, { addr: 0x8000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 3 });
      dq.pushAvail(3);
    }, /longer than queue size/],
    ['head index >= size', ({ dq }) => dq.pushAvail(8), /descriptor 8, queue size is 8/],
    ['next index >= size', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 200 });
      dq.pushAvail(0);
    }, /next 200/],
    ['buffer outside RAM', ({ dq }) => {
      dq.writeDescriptor(0, { addr: RAM + 0x1000, len: 4, flags: VIRTQ_DESC_F_WRITE, next: 0 });
      dq.pushAvail(0);
    }, /outside guest RAM/],
    ['buffer straddling the end of RAM', ({ dq }) => {
      dq.writeDescriptor(0, { addr: RAM - 8, len: 16, flags: 0, next: 0 });
      dq.pushAvail(0);
    }, /outside guest RAM/],
    ['absurd length', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 0xffffffff, flags: VIRTQ_DESC_F_WRITE, next: 0 });
      dq.pushAvail(0);
    }, /outside guest RAM/],
    ['address beyond 2^53', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0xffff_ffff_ffff_f000n, len: 4, flags: 0, next: 0 });
      dq.pushAvail(0);
    }, /beyond any guest RAM/],
    ['avail idx jumps by more than size', ({ dq }) => dq.setAvailIdx(9), /more than queue size 8/],
    ['avail idx goes backwards', ({ dq }) => dq.setAvailIdx(0xffff), /more than queue size/],
    ['INDIRECT together with NEXT', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 32, flags: VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, next: 1 });
      dq.pushAvail(0);
    }, /both INDIRECT and NEXT/],
    ['indirect table length not a multiple of 16', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 24, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.pushAvail(0);
    }, /not a non-zero multiple of 16/],
    ['indirect table larger than the queue', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 16 * 9, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.pushAvail(0);
    }, /more than queue size/],
    ['indirect table outside RAM', ({ dq }) => {
      dq.writeDescriptor(0, { addr: RAM - 16, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.pushAvail(0);
    }, /indirect table .* outside guest RAM/],
    ['nested indirect', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.writeDescriptor(0, { addr: 0x9000, len: 16, flags: VIRTQ_DESC_F_INDIRECT, next: 0 }, 0x8000);
      dq.pushAvail(0);
    }, /is itself INDIRECT/],
    ['loop inside an indirect table', ({ dq }) => {
      dq.writeDescriptor(0, { addr: 0x8000, len: 32, flags: VIRTQ_DESC_F_INDIRECT, next: 0 });
      dq.writeDescriptor(0, { addr: 0x9000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 1 }, 0x8000);
      dq.writeDescriptor(1, { addr: 0x9000, len: 4, flags: VIRTQ_DESC_F_NEXT, next: 0 }, 0x8000);
      dq.pushAvail(0);
    }, /longer than its table/],
  ];
  for (const [name, build, msg] of cases) {
    const s = setup(8, true);
    build(s);
    let err: unknown;
    try { s.q.pop(s.mem); } catch (e) { err = e; }
    t.type(err, QueueError, `${name}: a QueueError`);
    t.match((err as Error | undefined)?.message, msg, `${name}: message`);
  }
});

t.test('a malformed chain is consumed, so the next good one can still be popped', async (t) => {
  const { mem, q, dq } = setup(8);
  dq.writeDescriptor(7, { addr: RAM, len: 4, flags: 0, next: 0 });
  dq.pushAvail(7);
  const good = dq.addChain([{ writable: 4 }]);
  t.throws(() => q.pop(mem), QueueError);
  t.equal(q.pop(mem)!.head, good.head);
});

t.test('addUsed refuses a head outside the queue', async (t) => {
  const { mem, q } = setup(8);
  t.throws(() => q.addUsed(mem, 8, 0), QueueError);
  q.reset();
  t.equal(q.size, 8);
  t.equal(q.ready, false);
});
