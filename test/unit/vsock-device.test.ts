// virtio-vsock through the virtio-mmio transport and the test-side driver, with real Unix sockets on the host side.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { MmioReg, VirtioMmioTransport } from '../../vmm/devices/virtio/mmio/transport.js';
import { VIRTIO_F_VERSION_1, VIRTIO_ID_VSOCK, VIRTIO_STATUS_DEVICE_NEEDS_RESET } from '../../vmm/devices/virtio/constants.js';
import { VirtioVsock, VSOCK_QUEUE_SIZE, type VsockDeviceOptions } from '../../vmm/devices/virtio/vsock/device.js';
import { CONN_RX_PAUSE_BYTES } from '../../vmm/devices/virtio/vsock/connection.js';
import {
  VSOCK_HDR_SIZE, VSOCK_MAX_PAYLOAD, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_REQUEST,
  VSOCK_OP_RESPONSE, VSOCK_OP_RST, VSOCK_OP_RW, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_MASK, VSOCK_TYPE_STREAM,
  decodePacket, encodeHeader, type VsockHeader, type VsockPacket,
} from '../../vmm/devices/virtio/vsock/packet.js';
import { VirtioTestDriver, type ChainPart, type DriverQueue, type SubmittedChain } from '../helpers/virtio-driver.js';

const RAM = 32 * 1024 * 1024;
const GUEST_CID = 5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await sleep(5);
  }
  throw new Error(`gave up waiting for ${what}`);
}

type PacketFields = Partial<VsockHeader> & Pick<VsockHeader, 'op' | 'srcPort' | 'dstPort'>;

/** The guest's vsock transport, done with the test driver's queues (the way Linux's virtio_transport does). */
class QueueGuest {
  readonly inbox: VsockPacket[] = [];
  readonly rxChains = new Map<number, SubmittedChain>();
  readonly fwd = new Map<string, number>();
  readonly advertised = new Map<string, number>();
  bufAlloc = 256 * 1024;
  /** false: used rx buffers are not given back (the guest stops supplying buffers) */
  recycle = true;
  private readonly parked: number[] = [];

  constructor(readonly drv: VirtioTestDriver, readonly rx: DriverQueue, readonly tx: DriverQueue) {}

  /** Allocates `n` rx buffers (header + data, as Linux lays them out) and makes them available. */
  postRx(n: number, parts: ChainPart[] = [{ writable: VSOCK_HDR_SIZE }, { writable: 4096 }]): void {
    for (let i = 0; i < n; i++) {
      const c = this.rx.addChain(parts);
      this.rxChains.set(c.head, c);
    }
    this.rx.kick();
  }

  /** Takes used rx buffers, decodes their packets, and gives the buffers back. */
  collect(): void {
    const used = this.rx.takeUsed();
    for (const u of used) {
      const chain = this.rxChains.get(u.id);
      if (!chain) throw new Error(`device used unknown rx head ${u.id}`);
      if (u.len === 0) continue; // a buffer the device could not use (too small): not given again
      this.inbox.push(decodePacket(this.rx.readWritten(chain, u.len).slice()));
      if (this.recycle) this.rx.pushAvail(chain.head);
      else this.parked.push(chain.head);
    }
    if (used.length > 0 && this.recycle) this.rx.kick();
  }

  /** Gives back the buffers held while recycle was off. */
  releaseParked(): void {
    this.recycle = true;
    for (const head of this.parked.splice(0)) this.rx.pushAvail(head);
    this.rx.kick();
  }

  sendParts(parts: ChainPart[]): void {
    const c = this.tx.addChain(parts);
    this.tx.kick();
    const used = this.tx.takeUsed();
    if (!used.some((u) => u.id === c.head)) throw new Error('tx chain not consumed');
  }

  send(h: PacketFields, payload: Uint8Array = new Uint8Array(0)): void {
    const key = `${h.dstPort}:${h.srcPort}`;
    const fwdCnt = this.fwd.get(key) ?? 0;
    this.advertised.set(key, fwdCnt);
    const hdr = encodeHeader({
      srcCid: BigInt(GUEST_CID), dstCid: 2n, len: payload.length, type: VSOCK_TYPE_STREAM, flags: 0,
      bufAlloc: this.bufAlloc, fwdCnt, ...h,
    });
    this.sendParts(payload.length > 0 ? [{ readable: hdr }, { readable: payload }] : [{ readable: hdr }]);
  }

  async waitFor(pred: (p: VsockPacket) => boolean, what: string): Promise<VsockPacket> {
    let found: VsockPacket | undefined;
    await until(() => {
      this.collect();
      const i = this.inbox.findIndex(pred);
      if (i >= 0) found = this.inbox.splice(i, 1)[0];
      return found !== undefined;
    }, what);
    return found!;
  }

  async read(hostPort: number, guestPort: number, n: number): Promise<Buffer> {
    const key = `${hostPort}:${guestPort}`;
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < n) {
      const p = await this.waitFor((q) => q.hdr.srcPort === hostPort && q.hdr.dstPort === guestPort &&
        (q.hdr.op === VSOCK_OP_RW || q.hdr.op === VSOCK_OP_CREDIT_REQUEST), `data on ${key}`);
      if (p.hdr.op === VSOCK_OP_RW) {
        parts.push(p.payload);
        got += p.payload.length;
        this.fwd.set(key, (this.fwd.get(key) ?? 0) + p.payload.length);
      }
      const unreported = (this.fwd.get(key) ?? 0) - (this.advertised.get(key) ?? 0);
      if (p.hdr.op === VSOCK_OP_CREDIT_REQUEST || unreported >= this.bufAlloc / 2) {
        this.send({ op: VSOCK_OP_CREDIT_UPDATE, srcPort: guestPort, dstPort: hostPort });
      }
    }
    return Buffer.concat(parts);
  }
}

interface Client { sock: net.Socket; data: Buffer; ended: boolean }

async function connectClient(p: string): Promise<Client> {
  const sock = net.connect({ path: p, allowHalfOpen: true });
  const c: Client = { sock, data: Buffer.alloc(0), ended: false };
  sock.on('data', (d: Buffer) => { c.data = Buffer.concat([c.data, d]); });
  sock.on('end', () => { c.ended = true; });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  return c;
}

async function setup(t: { teardown(fn: () => unknown): void }, opts: VsockDeviceOptions = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vsock-dev-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const uds = path.join(dir, 'v.sock');
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: RAM }]);
  const logs: string[] = [];
  const dev = new VirtioVsock({ guestCid: GUEST_CID, udsPath: uds }, (l) => logs.push(l), opts);
  t.teardown(() => dev.close());
  await dev.listening;
  let irqs = 0;
  const transport = new VirtioMmioTransport(dev, mem, { trigger() { irqs++; } }, (l) => logs.push(l));
  const drv = new VirtioTestDriver(transport, mem, { base: 0x1000, size: RAM - 0x1000 });
  const [rx, tx] = drv.init();
  const guest = new QueueGuest(drv, rx!, tx!);
  return { dev, transport, drv, guest, uds, logs, irqs: () => irqs };
}

/** Host-initiated connect through the queues; returns the client with the OK line consumed. */
async function hostConnect(guest: QueueGuest, uds: string, guestPort: number): Promise<{ c: Client; hostPort: number }> {
  const c = await connectClient(uds);
  c.sock.write(`CONNECT ${guestPort}\n`);
  const req = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_REQUEST && p.hdr.dstPort === guestPort, 'REQUEST');
  guest.send({ op: VSOCK_OP_RESPONSE, srcPort: guestPort, dstPort: req.hdr.srcPort });
  await until(() => c.data.includes(0x0a), 'OK line');
  const nl = c.data.indexOf(0x0a);
  if (c.data.subarray(0, nl).toString() !== `OK ${req.hdr.srcPort}`) throw new Error('bad OK line');
  c.data = c.data.subarray(nl + 1);
  return { c, hostPort: req.hdr.srcPort };
}

t.test('identity, config space, features, queues', async (t) => {
  const { drv, dev } = await setup(t);
  t.equal(drv.readReg(MmioReg.DEVICE_ID), VIRTIO_ID_VSOCK);
  t.equal(drv.readConfigU64(0), BigInt(GUEST_CID), 'guest_cid');
  t.equal(drv.readConfig(2, 2), 0, 'upper bytes of the CID');
  t.equal(drv.readConfig(8, 4), 0, 'beyond the config reads zero');
  t.equal(drv.deviceFeatures(), VIRTIO_F_VERSION_1, 'VERSION_1 only: stream sockets need no feature bit');
  t.same(drv.maxQueueSizes(), [VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE], 'rx, tx, event');
  t.equal(dev.broken, false);
  t.throws(() => new VirtioVsock({ guestCid: 2, udsPath: '/tmp/x' }), /guest CID 2/);
  t.throws(() => new VirtioVsock({ guestCid: 0xffffffff, udsPath: '/tmp/x' }), /guest CID/);
});

t.test('host-initiated through the queues: data both ways, many rx buffers, close', async (t) => {
  const { guest, uds, irqs, dev } = await setup(t);
  guest.postRx(16);
  const before = irqs();
  const { c, hostPort } = await hostConnect(guest, uds, 1024);
  t.ok(irqs() > before, 'the guest was interrupted');
  const big = randomBytes(200_000);
  c.sock.write(big);
  const got = await guest.read(hostPort, 1024, big.length);
  t.ok(got.equals(big), '200 kB through 4 KiB rx buffers, in order');
  const fromGuest = randomBytes(VSOCK_MAX_PAYLOAD);
  guest.send({ op: VSOCK_OP_RW, srcPort: 1024, dstPort: hostPort }, fromGuest);
  guest.send({ op: VSOCK_OP_RW, srcPort: 1024, dstPort: hostPort }, Buffer.from('tail'));
  await until(() => c.data.length >= fromGuest.length + 4, 'guest data at the client');
  t.ok(c.data.equals(Buffer.concat([fromGuest, Buffer.from('tail')])), 'a max-size packet and a small one');
  guest.send({ op: VSOCK_OP_SHUTDOWN, srcPort: 1024, dstPort: hostPort, flags: VSOCK_SHUTDOWN_MASK });
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST && p.hdr.srcPort === hostPort, 'final RST');
  await until(() => c.ended, 'EOF at the client');
  t.equal(dev.muxer.connectionCount, 0);
});

t.test('guest-initiated through the queues: listener present and absent', async (t) => {
  const { guest, uds } = await setup(t);
  guest.postRx(8);
  const got: Buffer[] = [];
  const socks: net.Socket[] = [];
  const server = net.createServer((s) => {
    socks.push(s);
    s.on('data', (d: Buffer) => { got.push(d); s.write(Buffer.from(d.toString().toUpperCase())); });
  });
  await new Promise<void>((r) => server.listen(`${uds}_52`, r));
  t.teardown(() => new Promise<void>((r) => { for (const s of socks) s.destroy(); server.close(() => r()); }));
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 40000, dstPort: 52 });
  const resp = await guest.waitFor((p) => p.hdr.dstPort === 40000, 'answer');
  t.equal(resp.hdr.op, VSOCK_OP_RESPONSE);
  t.equal(resp.hdr.srcCid, 2n);
  t.equal(resp.hdr.dstCid, BigInt(GUEST_CID));
  guest.send({ op: VSOCK_OP_RW, srcPort: 40000, dstPort: 52 }, Buffer.from('echo me'));
  t.equal((await guest.read(52, 40000, 7)).toString(), 'ECHO ME');
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 40001, dstPort: 53 });
  const rst = await guest.waitFor((p) => p.hdr.dstPort === 40001, 'answer');
  t.equal(rst.hdr.op, VSOCK_OP_RST, 'nobody at <path>_53: RST');
});

t.test('hostile tx packets: one log line each, RST where an answer is due, device keeps working', async (t) => {
  const { guest, uds, logs, dev, transport } = await setup(t);
  guest.postRx(8);
  const hdr = (h: Partial<VsockHeader>): Uint8Array => encodeHeader({
    srcCid: BigInt(GUEST_CID), dstCid: 2n, srcPort: 7, dstPort: 8, len: 0, type: VSOCK_TYPE_STREAM,
    op: VSOCK_OP_REQUEST, flags: 0, bufAlloc: 4096, fwdCnt: 0, ...h,
  });
  const logsNow = (): number => logs.length;
  const cases: [string, ChainPart[], RegExp, boolean][] = [
    ['truncated header', [{ readable: hdr({}).subarray(0, 30) }], /truncated header/, false],
    ['header split over descriptors and short', [{ readable: hdr({}).subarray(0, 20) }, { readable: hdr({}).subarray(20, 40) }], /truncated/, false],
    ['wrong source CID', [{ readable: hdr({ srcCid: 9n }) }], /forged source CID/, false],
    ['wrong destination CID', [{ readable: hdr({ dstCid: 7n }) }], /for CID 7/, false],
    ['unknown op', [{ readable: hdr({ op: 42 }) }], /unknown op 42/, true],
    ['seqpacket type', [{ readable: hdr({ type: 2 }) }], /unsupported socket type 2/, true],
    ['len beyond the descriptor data', [{ readable: hdr({ op: VSOCK_OP_RW, len: 1000 }) }, { readable: new Uint8Array(10) }], /1000 exceeds the 10 payload bytes/, true],
    ['len beyond the maximum', [{ readable: hdr({ op: VSOCK_OP_RW, len: VSOCK_MAX_PAYLOAD + 1 }) }, { readable: new Uint8Array(VSOCK_MAX_PAYLOAD) }], /exceeds the 65536-byte maximum/, true],
    ['chain larger than a packet can be', [{ readable: hdr({ op: VSOCK_OP_RW, len: 8 }) }, { readable: new Uint8Array(VSOCK_MAX_PAYLOAD + 1) }], /exceed the limit/, false],
    ['readable part empty', [{ writable: 64 }], /truncated header \(0 of 44/, false],
  ];
  for (const [name, parts, re, rst] of cases) {
    const n = logsNow();
    guest.sendParts(parts);
    await sleep(5);
    guest.collect();
    t.equal(logs.length - n, 1, `${name}: one log line`);
    t.match(logs[logs.length - 1], re, `${name}: the log says why`);
    const answers = guest.inbox.splice(0);
    if (rst) t.same(answers.map((p) => [p.hdr.op, p.hdr.srcPort, p.hdr.dstPort]), [[VSOCK_OP_RST, 8, 7]], `${name}: RST`);
    else t.equal(answers.length, 0, `${name}: dropped`);
  }
  t.equal(dev.broken, false);
  t.equal(transport.isBroken, false);

  // A lying len on an open connection resets that connection (its byte stream would have a hole).
  const { c, hostPort } = await hostConnect(guest, uds, 99);
  guest.sendParts([{ readable: hdr({ op: VSOCK_OP_RW, srcPort: 99, dstPort: hostPort, len: 500 }) }, { readable: new Uint8Array(100) }]);
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST && p.hdr.dstPort === 99, 'RST of the connection');
  await until(() => c.ended, 'client closed');
  t.equal(c.data.length, 0, 'no partial data reached the host');

  // Still works.
  const again = await hostConnect(guest, uds, 100);
  again.c.sock.write('still fine');
  t.equal((await guest.read(again.hostPort, 100, 10)).toString(), 'still fine');
});

t.test('no rx buffers: the host writer is held back, then everything arrives', async (t) => {
  const { guest, uds, dev } = await setup(t);
  guest.postRx(4, [{ writable: VSOCK_HDR_SIZE + 65536 }]);
  const { c, hostPort } = await hostConnect(guest, uds, 2000);
  guest.recycle = false; // the four buffers fill up and are not given back
  const payload = randomBytes(4 * 1024 * 1024);
  c.sock.write(payload);
  const conn = dev.muxer.connection(hostPort, 2000)!;
  let maxHeld = 0;
  for (let i = 0; i < 40; i++) {
    maxHeld = Math.max(maxHeld, conn.pendingRxBytes);
    await sleep(10);
  }
  guest.collect();
  const early = guest.inbox.splice(0).filter((p) => p.hdr.op === VSOCK_OP_RW).map((p) => p.payload);
  t.ok(maxHeld <= CONN_RX_PAUSE_BYTES + 64 * 1024, `device holds at most its pause threshold plus a chunk (${maxHeld})`);
  t.ok(c.sock.writableLength > 2 * 1024 * 1024, 'most data still waits in the writer');
  // Buffers again: the rest flows.
  guest.releaseParked();
  const earlyLen = early.reduce((n, p) => n + p.length, 0);
  t.ok(earlyLen <= 4 * 65536, 'no more than the four buffers held');
  guest.fwd.set(`${hostPort}:2000`, earlyLen);
  guest.send({ op: VSOCK_OP_CREDIT_UPDATE, srcPort: 2000, dstPort: hostPort });
  const rest = await guest.read(hostPort, 2000, payload.length - earlyLen);
  const all = Buffer.concat([...early, rest]);
  t.equal(createHash('sha256').update(all).digest('hex'), createHash('sha256').update(payload).digest('hex'), 'every byte, in order');
});

t.test('tiny rx buffers are returned empty; a malformed ring breaks the device, reset revives it', async (t) => {
  const { guest, uds, logs, dev, transport, drv } = await setup(t);
  guest.postRx(1, [{ writable: 16 }]);
  guest.postRx(4);
  const { c } = await hostConnect(guest, uds, 3000);
  t.match(logs.join('\n'), /holds 16 bytes, less than a header/);
  t.equal(dev.broken, false);
  // The guest jumps avail idx far ahead: the ring is corrupt.
  guest.tx.setAvailIdx(guest.tx.availIdx + VSOCK_QUEUE_SIZE + 5);
  guest.tx.kick();
  t.equal(dev.broken, true, 'device broken');
  t.ok(transport.isBroken && drv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 'DEVICE_NEEDS_RESET');
  // Reset drops every connection (the host sees EOF); the re-initialised device works.
  drv.status = 0;
  await until(() => c.ended, 'EOF after reset');
  t.equal(dev.muxer.connectionCount, 0);
  const [rx, tx] = drv.init();
  const g2 = new QueueGuest(drv, rx!, tx!);
  g2.postRx(4);
  const again = await hostConnect(g2, uds, 3001);
  again.c.sock.write('after reset');
  t.equal((await g2.read(again.hostPort, 3001, 11)).toString(), 'after reset');
});

t.test('a REQUEST made before the driver is up is delivered once it is', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vsock-dev-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const uds = path.join(dir, 'v.sock');
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: RAM }]);
  const dev = new VirtioVsock({ guestCid: GUEST_CID, udsPath: uds }, () => undefined);
  t.teardown(() => dev.close());
  await dev.listening;
  const c = await connectClient(uds);
  c.sock.write('CONNECT 77\n');
  await until(() => dev.muxer.connectionCount === 1, 'connection pending');
  const transport = new VirtioMmioTransport(dev, mem, { trigger() {} });
  const drv = new VirtioTestDriver(transport, mem, { base: 0x1000, size: RAM - 0x1000 });
  const [rx, tx] = drv.init();
  const guest = new QueueGuest(drv, rx!, tx!);
  guest.postRx(2);
  const req = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_REQUEST, 'REQUEST');
  t.equal(req.hdr.dstPort, 77);
});

t.test('listening on a path that exists fails with a clear error', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vsock-dev-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const uds = path.join(dir, 'v.sock');
  fs.writeFileSync(uds, '');
  const logs: string[] = [];
  const dev = new VirtioVsock({ guestCid: GUEST_CID, udsPath: uds }, (l) => logs.push(l));
  await t.rejects(dev.listening, new RegExp(`cannot listen on ${uds}`));
  t.match(logs.join('\n'), /cannot listen/);
  await dev.close();
});
