// The vsock muxer and connections against real Unix sockets, with the test playing the guest's vsock transport.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { VsockMuxer, HOST_PORT_FIRST, HOST_PORT_END, type VsockMuxerOptions } from '../../vmm/devices/virtio/vsock/muxer.js';
import { CONN_BUF_ALLOC, CONN_RX_PAUSE_BYTES } from '../../vmm/devices/virtio/vsock/connection.js';
import {
  VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE, VSOCK_OP_RST, VSOCK_OP_RW,
  VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_MASK, VSOCK_SHUTDOWN_SEND, VSOCK_TYPE_STREAM,
  type VsockHeader, type VsockPacket,
} from '../../vmm/devices/virtio/vsock/packet.js';

const GUEST_CID = 3;
/** The part of a tap test the helpers need. */
interface Teardown { teardown(fn: () => unknown): void }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` (a guard against hangs, not a timing assertion). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await sleep(5);
  }
  throw new Error(`gave up waiting for ${what}`);
}

function tmpSock(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vsock-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'v.sock');
}

type PacketFields = Partial<VsockHeader> & Pick<VsockHeader, 'op' | 'srcPort' | 'dstPort'>;
const connKey = (hostPort: number, guestPort: number): string => `${hostPort}:${guestPort}`;

/** The guest side: sends packets into the muxer and takes what it has for the guest. */
class Guest {
  readonly logs: string[] = [];
  readonly inbox: VsockPacket[] = [];
  readonly mux: VsockMuxer;
  /** false: the guest has no rx buffers, nothing is taken from the muxer */
  rxEnabled = true;
  maxPayload = 4096;
  bufAlloc = 256 * 1024;
  /** bytes consumed per connection (our fwd_cnt) and the last value we advertised */
  readonly fwd = new Map<string, number>();
  readonly advertised = new Map<string, number>();

  constructor(udsPath: string, opts: Partial<VsockMuxerOptions> = {}) {
    this.mux = new VsockMuxer({
      guestCid: GUEST_CID, udsPath, log: (m) => this.logs.push(m), onRxReady: () => this.pump(), ...opts,
    });
  }

  pump(): void {
    if (!this.rxEnabled) return;
    for (let p = this.mux.nextGuestPacket(this.maxPayload); p; p = this.mux.nextGuestPacket(this.maxPayload)) this.inbox.push(p);
  }

  send(h: PacketFields, payload: Uint8Array = new Uint8Array(0)): void {
    const key = connKey(h.dstPort, h.srcPort);
    const fwdCnt = this.fwd.get(key) ?? 0;
    this.advertised.set(key, fwdCnt);
    this.mux.handleGuestPacket({
      hdr: {
        srcCid: BigInt(GUEST_CID), dstCid: 2n, len: payload.length, type: VSOCK_TYPE_STREAM, flags: 0,
        bufAlloc: this.bufAlloc, fwdCnt, ...h,
      },
      payload,
    });
  }

  async waitFor(pred: (p: VsockPacket) => boolean, what: string): Promise<VsockPacket> {
    let found: VsockPacket | undefined;
    await until(() => {
      this.pump();
      const i = this.inbox.findIndex(pred);
      if (i >= 0) found = this.inbox.splice(i, 1)[0];
      return found !== undefined;
    }, what);
    return found!;
  }

  /** Reads `n` bytes of RW data from host port `hostPort` to guest port `guestPort`, granting credit as it goes. */
  async read(hostPort: number, guestPort: number, n: number): Promise<Buffer> {
    const key = connKey(hostPort, guestPort);
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < n) {
      const p = await this.waitFor((q) => q.hdr.srcPort === hostPort && q.hdr.dstPort === guestPort &&
        (q.hdr.op === VSOCK_OP_RW || q.hdr.op === VSOCK_OP_CREDIT_REQUEST), `data on ${key}`);
      if (p.hdr.op === VSOCK_OP_RW) {
        parts.push(p.payload.slice());
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

/** Everything a Unix client received, and whether it saw EOF / close (half-open: the device closing it shows as EOF). */
interface Client { sock: net.Socket; data: Buffer; ended: boolean; closed: boolean }

async function connectClient(p: string): Promise<Client> {
  const sock = net.connect({ path: p, allowHalfOpen: true });
  const c: Client = { sock, data: Buffer.alloc(0), ended: false, closed: false };
  sock.on('data', (d: Buffer) => { c.data = Buffer.concat([c.data, d]); });
  sock.on('end', () => { c.ended = true; });
  sock.on('close', () => { c.closed = true; });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  return c;
}

/** Host-initiated connect, accepted by the guest: returns the client (OK line stripped) and the host port. */
async function hostConnect(guest: Guest, uds: string, guestPort: number, extra = ''): Promise<{ c: Client; hostPort: number }> {
  const c = await connectClient(uds);
  c.sock.write(`CONNECT ${guestPort}\n${extra}`);
  const req = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_REQUEST && p.hdr.dstPort === guestPort, 'REQUEST');
  const hostPort = req.hdr.srcPort;
  guest.send({ op: VSOCK_OP_RESPONSE, srcPort: guestPort, dstPort: hostPort });
  await until(() => c.data.includes(0x0a), 'OK line');
  const nl = c.data.indexOf(0x0a);
  const line = c.data.subarray(0, nl).toString();
  if (line !== `OK ${hostPort}`) throw new Error(`bad OK line ${line}`);
  c.data = c.data.subarray(nl + 1);
  return { c, hostPort };
}

async function startGuest(t: Teardown, opts: Partial<VsockMuxerOptions> = {}): Promise<{ guest: Guest; uds: string }> {
  const uds = tmpSock(t);
  const guest = new Guest(uds, opts);
  await guest.mux.listen();
  t.teardown(() => guest.mux.close());
  return { guest, uds };
}

/** A Unix listener at `${uds}_${port}` whose accepted sockets are collected. */
async function hostListener(t: Teardown, uds: string, port: number): Promise<Client[]> {
  const accepted: Client[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    const c: Client = { sock, data: Buffer.alloc(0), ended: false, closed: false };
    sock.on('data', (d: Buffer) => { c.data = Buffer.concat([c.data, d]); });
    sock.on('end', () => { c.ended = true; });
    sock.on('close', () => { c.closed = true; });
    sock.on('error', () => undefined);
    accepted.push(c);
  });
  await new Promise<void>((r) => server.listen(`${uds}_${port}`, r));
  t.teardown(() => new Promise<void>((r) => { for (const c of accepted) c.sock.destroy(); server.close(() => r()); }));
  return accepted;
}

t.test('host-initiated: CONNECT/OK, data both ways, half close both ways, final RST', async (t) => {
  const { guest, uds } = await startGuest(t);
  const c = await connectClient(uds);
  c.sock.write('CONNECT 5000\nearly-bytes');
  const req = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_REQUEST, 'REQUEST');
  t.equal(req.hdr.srcCid, 2n, 'from the host CID');
  t.equal(req.hdr.dstCid, 3n, 'to the guest CID');
  t.equal(req.hdr.dstPort, 5000);
  t.ok(req.hdr.srcPort >= HOST_PORT_FIRST && req.hdr.srcPort < HOST_PORT_END, 'host port from the high range');
  t.equal(req.hdr.bufAlloc, CONN_BUF_ALLOC, 'advertises its buffer');
  t.equal(c.data.length, 0, 'no OK before RESPONSE');
  const hostPort = req.hdr.srcPort;
  guest.send({ op: VSOCK_OP_RESPONSE, srcPort: 5000, dstPort: hostPort });
  await until(() => c.data.includes(0x0a), 'OK line');
  t.equal(c.data.toString(), `OK ${hostPort}\n`);
  c.data = Buffer.alloc(0);
  t.equal(guest.mux.connection(hostPort, 5000)?.state, 'established');

  t.equal((await guest.read(hostPort, 5000, 11)).toString(), 'early-bytes', 'bytes sent with the CONNECT line arrive after RESPONSE');
  c.sock.write('hello guest');
  t.equal((await guest.read(hostPort, 5000, 11)).toString(), 'hello guest');
  guest.send({ op: VSOCK_OP_RW, srcPort: 5000, dstPort: hostPort }, Buffer.from('hello host'));
  await until(() => c.data.length >= 10, 'guest data at the client');
  t.equal(c.data.toString(), 'hello host');

  // Guest half-closes: the client sees EOF but can still send.
  guest.send({ op: VSOCK_OP_SHUTDOWN, srcPort: 5000, dstPort: hostPort, flags: VSOCK_SHUTDOWN_SEND });
  await until(() => c.ended, 'EOF at the client');
  c.sock.write('after half close');
  t.equal((await guest.read(hostPort, 5000, 16)).toString(), 'after half close');
  t.equal(guest.mux.connection(hostPort, 5000)?.state, 'closing');
  // Client half-closes too: SHUTDOWN(SEND) to the guest, then the final RST; the connection is gone.
  c.sock.end();
  const sd = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_SHUTDOWN, 'SHUTDOWN');
  t.equal(sd.hdr.flags, VSOCK_SHUTDOWN_SEND);
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST && p.hdr.srcPort === hostPort, 'RST');
  t.equal(guest.mux.connectionCount, 0);
  await until(() => c.closed, 'client closed');
});

t.test('host-initiated: guest refuses with RST, or never answers', async (t) => {
  const { guest, uds } = await startGuest(t, { requestTimeoutMs: 200 });
  const c = await connectClient(uds);
  c.sock.write('CONNECT 7\n');
  const req = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_REQUEST, 'REQUEST');
  guest.send({ op: VSOCK_OP_RST, srcPort: 7, dstPort: req.hdr.srcPort });
  await until(() => c.ended, 'EOF at the client');
  t.equal(c.data.length, 0, 'no OK line');
  t.equal(guest.mux.connectionCount, 0);

  const c2 = await connectClient(uds);
  c2.sock.write('CONNECT 8\n');
  const req2 = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_REQUEST, 'REQUEST');
  t.not(req2.hdr.srcPort, req.hdr.srcPort, 'a fresh host port');
  await until(() => c2.ended, 'EOF on timeout');
  t.equal(c2.data.length, 0);
  const rst = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST, 'RST after the timeout');
  t.equal(rst.hdr.srcPort, req2.hdr.srcPort);
  t.equal(guest.mux.connectionCount, 0);
});

t.test('bad CONNECT lines close the socket and send nothing to the guest', async (t) => {
  const { guest, uds } = await startGuest(t);
  for (const line of ['HELLO 5\n', 'CONNECT abc\n', 'CONNECT 4294967296\n', 'CONNECT  5\n', 'connect 5\n', `CONNECT 5${' '.repeat(40)}`, 'CONNECT 5\r\n']) {
    const c = await connectClient(uds);
    c.sock.write(line);
    await until(() => c.ended, `EOF after ${JSON.stringify(line)}`);
    t.equal(c.data.length, 0, `nothing answered to ${JSON.stringify(line)}`);
  }
  guest.pump();
  t.equal(guest.inbox.length, 0, 'no packet for the guest');
  t.equal(guest.mux.connectionCount, 0);
  t.equal(guest.logs.length, 7, 'one log line each');
});

t.test('guest-initiated: to <path>_<port>, data both ways, shutdown, RST when nobody listens', async (t) => {
  const { guest, uds } = await startGuest(t);
  const accepted = await hostListener(t, uds, 6000);
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1111, dstPort: 6000 });
  const resp = await guest.waitFor((p) => p.hdr.srcPort === 6000 && p.hdr.dstPort === 1111, 'answer');
  t.equal(resp.hdr.op, VSOCK_OP_RESPONSE);
  t.equal(accepted.length, 1);
  const s = accepted[0]!;
  guest.send({ op: VSOCK_OP_RW, srcPort: 1111, dstPort: 6000 }, Buffer.from('ping'));
  await until(() => s.data.length === 4, 'data at the listener');
  t.equal(s.data.toString(), 'ping');
  s.sock.write('pong');
  t.equal((await guest.read(6000, 1111, 4)).toString(), 'pong');
  // The guest closes (both flags, as Linux's close() does): the host socket ends, then RST.
  guest.send({ op: VSOCK_OP_SHUTDOWN, srcPort: 1111, dstPort: 6000, flags: VSOCK_SHUTDOWN_MASK });
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST && p.hdr.dstPort === 1111, 'RST');
  await until(() => s.ended, 'EOF at the listener');
  t.equal(guest.mux.connectionCount, 0);

  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1112, dstPort: 6001 });
  const rst = await guest.waitFor((p) => p.hdr.dstPort === 1112, 'answer');
  t.equal(rst.hdr.op, VSOCK_OP_RST, 'no listener: RST');
  t.equal(rst.hdr.srcPort, 6001);
  t.equal(guest.mux.connectionCount, 0);
  t.match(guest.logs.join('\n'), /host refused \(ENOENT\)/);
});

t.test('guest-initiated: host closes after writing; the guest gets all data, then SHUTDOWN', async (t) => {
  const { guest, uds } = await startGuest(t);
  const accepted = await hostListener(t, uds, 6100);
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 2000, dstPort: 6100 });
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RESPONSE, 'RESPONSE');
  const payload = randomBytes(300_000);
  accepted[0]!.sock.end(payload);
  const got = await guest.read(6100, 2000, payload.length);
  t.ok(got.equals(payload), 'all bytes, in order');
  const sd = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_SHUTDOWN, 'SHUTDOWN');
  t.equal(sd.hdr.flags & VSOCK_SHUTDOWN_SEND, VSOCK_SHUTDOWN_SEND);
});

t.test('8 connections at once with interleaved data', async (t) => {
  const { guest, uds } = await startGuest(t);
  const accepted = await hostListener(t, uds, 7000);
  const host: { c: Client; hostPort: number }[] = [];
  for (let i = 0; i < 4; i++) host.push(await hostConnect(guest, uds, 100 + i));
  for (let i = 0; i < 4; i++) {
    guest.send({ op: VSOCK_OP_REQUEST, srcPort: 200 + i, dstPort: 7000 });
    await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RESPONSE && p.hdr.dstPort === 200 + i, 'RESPONSE');
  }
  t.equal(guest.mux.connectionCount, 8);
  t.equal(new Set(host.map((h) => h.hostPort)).size, 4, 'distinct host ports');
  // Round-robin writes in both directions on every connection.
  const expectHost = host.map(() => [] as Buffer[]);
  const expectGuest = accepted.map(() => [] as Buffer[]);
  for (let round = 0; round < 5; round++) {
    host.forEach((h, i) => {
      const b = Buffer.from(`h${i}r${round}-${'x'.repeat(i * 100)}|`);
      h.c.sock.write(b);
      expectHost[i]!.push(b);
      guest.send({ op: VSOCK_OP_RW, srcPort: 100 + i, dstPort: h.hostPort }, Buffer.from(`g->h${i}r${round}|`));
    });
    accepted.forEach((a, i) => {
      const b = Buffer.from(`a${i}r${round}|`);
      a.sock.write(b);
      expectGuest[i]!.push(b);
      guest.send({ op: VSOCK_OP_RW, srcPort: 200 + i, dstPort: 7000 }, Buffer.from(`g->a${i}r${round}|`));
    });
  }
  for (let i = 0; i < 4; i++) {
    const want = Buffer.concat(expectHost[i]!);
    t.equal((await guest.read(host[i]!.hostPort, 100 + i, want.length)).toString(), want.toString(), `host conn ${i} to guest`);
  }
  // The listener's sockets are in accept order, which is the order of the REQUESTs (one at a time above).
  for (let i = 0; i < 4; i++) {
    const want = Buffer.concat(expectGuest[i]!);
    t.equal((await guest.read(7000, 200 + i, want.length)).toString(), want.toString(), `guest conn ${i} from listener`);
  }
  const wantAt = (prefix: string): string => Array.from({ length: 5 }, (_, r) => `${prefix}r${r}|`).join('');
  await until(() => host.every((h, i) => h.c.data.length >= wantAt(`g->h${i}`).length), 'guest data at host clients');
  host.forEach((h, i) => t.equal(h.c.data.toString(), wantAt(`g->h${i}`)));
  await until(() => accepted.every((a, i) => a.data.length >= wantAt(`g->a${i}`).length), 'guest data at listener');
  accepted.forEach((a, i) => t.equal(a.data.toString(), wantAt(`g->a${i}`)));
});

t.test('credit: never more than the guest granted; CREDIT_REQUEST when stalled', async (t) => {
  const { guest, uds } = await startGuest(t);
  guest.bufAlloc = 1000;
  const { c, hostPort } = await hostConnect(guest, uds, 300);
  c.sock.write(Buffer.alloc(5000, 0x61));
  let sent = 0;
  await until(() => {
    guest.pump();
    return guest.inbox.some((p) => p.hdr.op === VSOCK_OP_CREDIT_REQUEST);
  }, 'CREDIT_REQUEST');
  for (const p of guest.inbox.splice(0)) if (p.hdr.op === VSOCK_OP_RW) sent += p.payload.length;
  t.equal(sent, 1000, 'exactly the granted credit');
  // No further data until credit is granted.
  await sleep(50);
  guest.pump();
  t.equal(guest.inbox.filter((p) => p.hdr.op === VSOCK_OP_RW).length, 0, 'paused without credit');
  guest.fwd.set(connKey(hostPort, 300), 1000);
  guest.send({ op: VSOCK_OP_CREDIT_UPDATE, srcPort: 300, dstPort: hostPort });
  await until(() => { guest.pump(); return guest.inbox.reduce((n, p) => n + p.payload.length, 0) >= 1000; }, 'more data');
  t.equal(guest.inbox.reduce((n, p) => n + p.payload.length, 0), 1000, 'the new credit, no more');
  t.equal(guest.mux.connection(hostPort, 300)?.peerCredit, 0);
});

t.test('credit: a guest sending beyond the granted credit is reset; within it is not', async (t) => {
  const { guest, uds } = await startGuest(t);
  const { c, hostPort } = await hostConnect(guest, uds, 400);
  c.sock.pause(); // the client reads nothing, so little of it can be forwarded
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  // Exactly the granted 256 KiB in one burst: accepted.
  for (let i = 0; i < CONN_BUF_ALLOC / chunk.length; i++) guest.send({ op: VSOCK_OP_RW, srcPort: 400, dstPort: hostPort }, chunk);
  t.equal(guest.mux.connection(hostPort, 400)?.state, 'established', 'within credit');
  // One more chunk in the same burst exceeds what we granted.
  guest.send({ op: VSOCK_OP_RW, srcPort: 400, dstPort: hostPort }, chunk);
  const rst = await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST, 'RST');
  t.equal(rst.hdr.srcPort, hostPort);
  c.sock.resume();
  await until(() => c.ended, 'EOF at the client');
  t.ok(c.data.length < CONN_BUF_ALLOC + chunk.length, 'the over-credit data was not forwarded whole');
  t.equal(guest.mux.connectionCount, 0);
  t.match(guest.logs.join('\n'), /exceeded its credit/);
});

t.test('back-pressure: with no rx buffers the host writer is paused, nothing buffered without bound', async (t) => {
  const { guest, uds } = await startGuest(t);
  const { c, hostPort } = await hostConnect(guest, uds, 500);
  guest.rxEnabled = false;
  const payload = randomBytes(8 * 1024 * 1024);
  c.sock.write(payload);
  const conn = guest.mux.connection(hostPort, 500)!;
  let maxHeld = 0;
  for (let i = 0; i < 40; i++) {
    maxHeld = Math.max(maxHeld, conn.pendingRxBytes);
    await sleep(10);
  }
  t.ok(maxHeld > 0, 'some data was read');
  t.ok(maxHeld <= CONN_RX_PAUSE_BYTES + 64 * 1024, `at most the pause threshold plus one chunk held (${maxHeld})`);
  t.ok(c.sock.writableLength > 4 * 1024 * 1024, 'most of the data still waits in the writer');
  guest.rxEnabled = true;
  guest.bufAlloc = 64 * 1024;
  guest.maxPayload = 64 * 1024;
  guest.send({ op: VSOCK_OP_CREDIT_UPDATE, srcPort: 500, dstPort: hostPort });
  const got = await guest.read(hostPort, 500, payload.length);
  t.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(payload).digest('hex'), 'every byte, in order');
});

t.test('hostile packets: wrong CIDs dropped with one log line, unknown connections get RST', async (t) => {
  const { guest, uds } = await startGuest(t);
  const accepted = await hostListener(t, uds, 9000);
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1, dstPort: 9000, srcCid: 4n });
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1, dstPort: 9000, srcCid: 3n + (1n << 32n) });
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1, dstPort: 9000, dstCid: 3n });
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1, dstPort: 9000, dstCid: 1n });
  await sleep(30);
  guest.pump();
  t.equal(guest.inbox.length, 0, 'no answer to forged or misaddressed packets');
  t.equal(accepted.length, 0, 'no host connection made');
  t.equal(guest.logs.length, 4, 'one log line each');
  t.match(guest.logs[0], /forged source CID/);
  t.match(guest.logs[2], /for CID 3/);

  guest.send({ op: VSOCK_OP_RW, srcPort: 77, dstPort: 88 }, Buffer.from('x'));
  const rst = await guest.waitFor(() => true, 'RST');
  t.same([rst.hdr.op, rst.hdr.srcPort, rst.hdr.dstPort, rst.hdr.dstCid], [VSOCK_OP_RST, 88, 77, 3n]);
  guest.send({ op: VSOCK_OP_RST, srcPort: 77, dstPort: 88 });
  await sleep(20);
  guest.pump();
  t.equal(guest.inbox.length, 0, 'an RST is never answered');

  // RESPONSE for a connection that is still being accepted, REQUEST on an open one: reset.
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 5, dstPort: 9000 });
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RESPONSE, 'RESPONSE');
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 5, dstPort: 9000 });
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RST && p.hdr.dstPort === 5, 'RST');
  t.equal(guest.mux.connectionCount, 0);
  // Still works afterwards.
  const { c, hostPort } = await hostConnect(guest, uds, 10);
  c.sock.write('fine');
  t.equal((await guest.read(hostPort, 10, 4)).toString(), 'fine');
});

t.test('connection limit: beyond it the guest gets RST and host sockets are closed', async (t) => {
  const { guest, uds } = await startGuest(t, { maxConnections: 2 });
  await hostListener(t, uds, 9100);
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 1, dstPort: 9100 });
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 2, dstPort: 9100 });
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 3, dstPort: 9100 });
  const third = await guest.waitFor((p) => p.hdr.dstPort === 3, 'answer to the third');
  t.equal(third.hdr.op, VSOCK_OP_RST);
  await guest.waitFor((p) => p.hdr.dstPort === 1 && p.hdr.op === VSOCK_OP_RESPONSE, 'first accepted');
  await guest.waitFor((p) => p.hdr.dstPort === 2 && p.hdr.op === VSOCK_OP_RESPONSE, 'second accepted');
  const c = await connectClient(uds);
  await until(() => c.ended, 'host socket closed at the limit');
  t.equal(guest.mux.connectionCount, 2);
});

t.test('close() stops the listener, closes every socket and removes the socket file', async (t) => {
  const uds = tmpSock(t);
  const guest = new Guest(uds);
  await guest.mux.listen();
  const accepted = await hostListener(t, uds, 9200);
  const { c } = await hostConnect(guest, uds, 1);
  guest.send({ op: VSOCK_OP_REQUEST, srcPort: 9, dstPort: 9200 });
  await guest.waitFor((p) => p.hdr.op === VSOCK_OP_RESPONSE, 'RESPONSE');
  await guest.mux.close();
  await until(() => c.ended && accepted[0]!.ended, 'sockets closed');
  t.notOk(fs.existsSync(uds), 'socket file removed');
  await t.rejects(connectClient(uds), 'nobody listens');
});
