// Hostile drivers through the real transport: each bad ring logs one line, breaks only its device, never throws.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { MMIO_INT_CONFIG, VirtioMmioTransport } from '../../vmm/devices/virtio/mmio/transport.js';
import { VirtioRng } from '../../vmm/devices/virtio/rng/device.js';
import { VirtioBlock } from '../../vmm/devices/virtio/blk/device.js';
import { VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN } from '../../vmm/devices/virtio/blk/protocol.js';
import {
  VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
} from '../../vmm/devices/virtio/constants.js';
import { VirtioTestDriver, type DriverQueue } from '../helpers/virtio-driver.js';

/** Two RAM regions with a hole between them, like low RAM below the MMIO gap and RAM above it. */
const LOW_END = 0x20_0000;
const HIGH = 0x30_0000;
const HIGH_END = 0x40_0000;
const QSIZE = 16;
const SCRATCH = 0x8000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kqubes-hostile-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const image = path.join(dir, 'disk.img');
fs.writeFileSync(image, Buffer.alloc(64 * 1024, 0x5a));

function fixture() {
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: LOW_END }, { start: GuestAddress(HIGH), size: HIGH_END - HIGH }]);
  const logs: string[] = [];
  const log = (l: string) => logs.push(l);
  const victim = new VirtioMmioTransport(new VirtioRng(log), mem, { trigger() {} }, log);
  const blk = new VirtioBlock({ path: image, readOnly: true }, log);
  t.teardown(() => blk.close());
  const other = new VirtioMmioTransport(blk, mem, { trigger() {} }, log);
  const vdrv = new VirtioTestDriver(victim, mem, { base: 0x1000, size: 0x10_0000 - 0x1000 });
  const odrv = new VirtioTestDriver(other, mem, { base: 0x10_0000, size: 0x10_0000 });
  return { mem, logs, victim, vdrv, odrv };
}

/** The bystander blk device still serves a read. */
function otherStillWorks(t: Test, odrv: VirtioTestDriver): void {
  const q = odrv.queues[0] ?? odrv.init()[0]!;
  const h = new Uint8Array(16);
  new DataView(h.buffer).setUint32(0, VIRTIO_BLK_T_IN, true);
  const c = q.addChain([{ readable: h }, { writable: 512 }, { writable: 1 }]);
  q.kick();
  const used = q.takeUsed();
  t.same(used, [{ id: c.head, len: 513 }], 'the other device answered');
  t.equal(q.mem.readU8(c.buffers[2]!.addr), VIRTIO_BLK_S_OK);
  t.ok(q.readWritten(c, 512).every((b) => b === 0x5a), 'with the right data');
}

type Build = (q: DriverQueue) => void;
const write = (q: DriverQueue, i: number, addr: number | bigint, len: number, flags: number, next = 0) =>
  q.writeDescriptor(i, { addr, len, flags, next });

const cases: [string, Build, RegExp][] = [
  ['descriptor loop (next points back)', (q) => {
    write(q, 0, SCRATCH, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    write(q, 1, SCRATCH, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    q.pushAvail(0);
  }, /longer than queue size/],
  ['chain longer than the queue size (all descriptors in one ring)', (q) => {
    for (let i = 0; i < QSIZE; i++) write(q, i, SCRATCH, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, (i + 1) % QSIZE);
    q.pushAvail(3);
  }, /chain from 3 is longer than queue size 16/],
  ['indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC', (q) => {
    write(q, 0, 0x9000, 32, VIRTQ_DESC_F_INDIRECT);
    q.pushAvail(0);
  }, /INDIRECT_DESC was not negotiated/],
  ['descriptor outside guest RAM (in the hole)', (q) => {
    write(q, 0, LOW_END + 0x1000, 16, VIRTQ_DESC_F_WRITE);
    q.pushAvail(0);
  }, /outside guest RAM/],
  ['descriptor straddling the end of a region', (q) => {
    write(q, 0, LOW_END - 8, 16, VIRTQ_DESC_F_WRITE);
    q.pushAvail(0);
  }, /0x1ffff8 \+ 16 is outside guest RAM/],
  ['descriptor straddling the end of RAM', (q) => {
    write(q, 0, HIGH_END - 1, 2, VIRTQ_DESC_F_WRITE);
    q.pushAvail(0);
  }, /outside guest RAM/],
  ['absurd length 0xffffffff', (q) => {
    write(q, 0, SCRATCH, 0xffffffff, VIRTQ_DESC_F_WRITE);
    q.pushAvail(0);
  }, /4294967295 is outside guest RAM/],
  ['head index >= size', (q) => q.pushAvail(QSIZE + 5), /descriptor 21, queue size is 16/],
  ['next index >= size', (q) => {
    write(q, 0, SCRATCH, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0xffff);
    q.pushAvail(0);
  }, /next 65535/],
  ['avail idx jumping by more than size', (q) => q.setAvailIdx(QSIZE + 1), /more than queue size 16/],
  ['address beyond 2^64 - 4096', (q) => {
    write(q, 0, 0xffff_ffff_ffff_f000n, 8, VIRTQ_DESC_F_WRITE);
    q.pushAvail(0);
  }, /beyond any guest RAM/],
];

for (const [name, build, msg] of cases) {
  t.test(name, async (t) => {
    const { logs, victim, vdrv, odrv } = fixture();
    const [q] = vdrv.init({ queueSizes: [QSIZE] });
    odrv.init();
    build(q!);
    t.doesNotThrow(() => q!.kick(), 'the notify does not throw');
    t.ok(vdrv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 'DEVICE_NEEDS_RESET');
    t.ok(victim.isBroken);
    t.ok(vdrv.interruptStatus() & MMIO_INT_CONFIG, 'config-change interrupt');
    t.equal(logs.length, 1, 'one log line');
    t.match(logs[0], /^virtio-rng: queue 0: /, 'naming the device and queue');
    t.match(logs[0], msg, 'and the error');
    t.doesNotThrow(() => q!.kick());
    t.equal(logs.length, 1, 'a broken device ignores further notifies quietly');
    otherStillWorks(t, odrv);
    const [fresh] = vdrv.init({ queueSizes: [QSIZE] });
    const c = fresh!.addChain([{ writable: 32 }]);
    fresh!.kick();
    t.same(fresh!.takeUsed(), [{ id: c.head, len: 32 }], 'a reset recovers the device');
  });
}

t.test('a queue ring placed outside RAM is refused at DRIVER_OK', async (t) => {
  const { logs, vdrv, odrv, victim } = fixture();
  vdrv.negotiate();
  vdrv.setupQueue(0, QSIZE, { desc: 0x2000, avail: 0x3000, used: LOW_END - 64 });
  t.doesNotThrow(() => vdrv.driverOk());
  t.ok(vdrv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  t.notOk(victim.isActivated);
  t.equal(logs.length, 1);
  t.match(logs[0], /^virtio-rng: activation: queue 0: used ring at 0x1fffc0 \+ 134 is outside guest RAM/);
  otherStillWorks(t, odrv);
});

t.test('a descriptor table in the hole between regions is refused at DRIVER_OK', async (t) => {
  const { logs, vdrv } = fixture();
  vdrv.negotiate();
  vdrv.setupQueue(0, QSIZE, { desc: LOW_END + 0x1000, avail: 0x3000, used: 0x4000 });
  vdrv.driverOk();
  t.ok(vdrv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  t.match(logs[0], /descriptor table at 0x201000 \+ 256 is outside guest RAM/);
});

t.test('a hostile blk chain breaks blk only; the rng beside it keeps working', async (t) => {
  const { logs, vdrv, odrv } = fixture();
  const [bq] = odrv.init();
  write(bq!, 0, SCRATCH, 8, VIRTQ_DESC_F_NEXT, 0);
  bq!.pushAvail(0);
  t.doesNotThrow(() => bq!.kick());
  t.ok(odrv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  t.match(logs[0], /^virtio-blk: queue 0: descriptor chain from 0 is longer than queue size 256/);
  const [rq] = vdrv.init();
  const c = rq!.addChain([{ writable: 16 }]);
  rq!.kick();
  t.same(rq!.takeUsed(), [{ id: c.head, len: 16 }]);
});

t.test('good requests before a bad one are completed before the device breaks', async (t) => {
  const { logs, vdrv } = fixture();
  const [q] = vdrv.init({ queueSizes: [QSIZE] });
  const good = q!.addChain([{ writable: 8 }]);
  q!.pushAvail(QSIZE); // bad head
  q!.kick();
  t.same(q!.takeUsed(), [{ id: good.head, len: 8 }]);
  t.ok(vdrv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  t.equal(logs.length, 1);
});
