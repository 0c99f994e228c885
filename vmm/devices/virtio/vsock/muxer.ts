// The host side of vsock: routes guest packets to connections and bridges them to Unix sockets (hybrid vsock).
import net from 'node:net';
import { VsockConnection, CONN_REQUEST_TIMEOUT_MS, type ConnectionHooks } from './connection.js';
import {
  VSOCK_HOST_CID, VSOCK_OP_REQUEST, VSOCK_OP_RST, VSOCK_TYPE_STREAM, describeHeader,
  type VsockHeader, type VsockPacket, type VsockPacketError,
} from './packet.js';
import { rateLimitedLog, type LogFn } from './rate-limited-log.js';

/** Connections (open, opening, or host sockets still sending their CONNECT line) at once. */
export const MUXER_MAX_CONNECTIONS = 1024;
/** Stray RSTs (answers to packets for unknown connections) held for the guest; tx pauses while full. */
export const MUXER_CTRL_QUEUE_MAX = 256;
/** Host-initiated connections get a host-side port from [HOST_PORT_FIRST, HOST_PORT_END). */
export const HOST_PORT_FIRST = 1 << 30;
export const HOST_PORT_END = 2 ** 31;
/** `CONNECT <port>\n` must fit in this many bytes, and arrive within the timeout. */
export const CONNECT_LINE_MAX = 32;
export const CONNECT_LINE_TIMEOUT_MS = 10_000;

const CONNECT_LINE_RE = /^CONNECT ([0-9]{1,10})$/;
const NEWLINE = 0x0a;
const U32_MAX = 0xffffffff;

export interface VsockMuxerOptions {
  /** the guest's CID (>= 3) */
  readonly guestCid: number;
  /** host programs connect here; guest connections to port P go to `${udsPath}_${P}` */
  readonly udsPath: string;
  /** called (from a microtask) when packets for the guest become available */
  readonly onRxReady: () => void;
  /** log sink (rate limited here); defaults to console.error */
  readonly log?: LogFn;
  readonly maxConnections?: number;
  readonly requestTimeoutMs?: number;
  readonly connectLineTimeoutMs?: number;
}

const connKey = (localPort: number, peerPort: number): string => `${localPort}:${peerPort}`;

export class VsockMuxer {
  readonly guestCid: bigint;
  readonly udsPath: string;
  private readonly opts: VsockMuxerOptions;
  private readonly log: LogFn;
  private readonly maxConnections: number;
  private readonly conns = new Map<string, VsockConnection>();
  /** connections with something for the guest, in round-robin order */
  private readonly ready = new Set<VsockConnection>();
  private readonly ctrlQueue: VsockHeader[] = [];
  private readonly hostPorts = new Set<number>();
  private nextHostPort = HOST_PORT_FIRST;
  /** host sockets still sending their CONNECT line */
  private readonly handshaking = new Set<net.Socket>();
  private server: net.Server | undefined;
  private rxScheduled = false;
  private closed = false;
  private readonly hooks: ConnectionHooks;

  constructor(opts: VsockMuxerOptions) {
    this.opts = opts;
    this.guestCid = BigInt(opts.guestCid);
    this.udsPath = opts.udsPath;
    this.maxConnections = opts.maxConnections ?? MUXER_MAX_CONNECTIONS;
    const sink = opts.log ?? ((m: string) => console.error(m));
    this.log = rateLimitedLog((m) => sink(`vsock(cid ${opts.guestCid}): ${m}`));
    this.hooks = {
      wantRx: (conn) => {
        if (conn.state === 'closed') return;
        this.ready.add(conn);
        this.scheduleRx();
      },
      removed: (conn) => this.forget(conn),
      log: this.log,
    };
  }

  /** Starts listening at udsPath for host-initiated connections. */
  listen(): Promise<void> {
    if (this.server) return Promise.resolve();
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.onHostSocket(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server = undefined;
        reject(new Error(`vsock: cannot listen on ${this.udsPath}: ${err.message}`));
      };
      server.once('error', onError);
      server.listen(this.udsPath, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log(`listener ${this.udsPath}: ${err.message}`));
        resolve();
      });
    });
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** The connection between host-side `localPort` and guest-side `peerPort`, if any. */
  connection(localPort: number, peerPort: number): VsockConnection | undefined {
    return this.conns.get(connKey(localPort, peerPort));
  }

  /** False while the stray-RST queue is full: the device should leave further tx chains in the ring. */
  canAcceptTx(): boolean {
    return this.ctrlQueue.length < MUXER_CTRL_QUEUE_MAX;
  }

  /** A packet the guest sent (decoded and validated by packet.ts). */
  handleGuestPacket(pkt: VsockPacket): void {
    const { hdr } = pkt;
    if (this.closed) return;
    if (hdr.srcCid !== this.guestCid) {
      this.log(`dropped packet with a forged source CID: ${describeHeader(hdr)}`);
      return;
    }
    if (hdr.dstCid !== VSOCK_HOST_CID) {
      this.log(`dropped packet for CID ${hdr.dstCid} (only the host, CID ${VSOCK_HOST_CID}, is reachable): ${describeHeader(hdr)}`);
      return;
    }
    const conn = this.conns.get(connKey(hdr.dstPort, hdr.srcPort));
    if (conn) {
      conn.handlePacket(pkt);
      return;
    }
    if (hdr.op === VSOCK_OP_RST) return;
    if (hdr.op !== VSOCK_OP_REQUEST) {
      this.log(`no connection for ${describeHeader(hdr)}: reset`);
      this.queueRst(hdr);
      return;
    }
    this.openGuestInitiated(hdr);
  }

  /**
   * A tx packet that failed validation (packet.ts). When its header names this guest and the host, the
   * sender learns of it: the connection it belongs to is reset (its stream lost bytes), or an RST answers
   * it. Otherwise it is only logged. One log line either way.
   */
  rejectGuestPacket(err: VsockPacketError): void {
    const hdr = err.hdr;
    if (this.closed) return;
    if (!hdr || hdr.srcCid !== this.guestCid || hdr.dstCid !== VSOCK_HOST_CID || hdr.op === VSOCK_OP_RST) {
      this.log(`dropped: ${err.message}`);
      return;
    }
    const conn = this.conns.get(connKey(hdr.dstPort, hdr.srcPort));
    if (conn && conn.state !== 'closed') {
      conn.kill(err.message);
      return;
    }
    this.log(`${err.message}: reset`);
    this.queueRst(hdr);
  }

  /** Answers a guest packet with RST (the packet's header, ports swapped). Also used by the device. */
  queueRst(hdr: VsockHeader): void {
    if (hdr.op === VSOCK_OP_RST) return;
    if (this.ctrlQueue.length >= MUXER_CTRL_QUEUE_MAX) {
      this.log(`control queue full, RST for ${describeHeader(hdr)} not sent`);
      return;
    }
    this.ctrlQueue.push({
      srcCid: VSOCK_HOST_CID, dstCid: this.guestCid, srcPort: hdr.dstPort, dstPort: hdr.srcPort,
      len: 0, type: VSOCK_TYPE_STREAM, op: VSOCK_OP_RST, flags: 0, bufAlloc: 0, fwdCnt: 0,
    });
    this.scheduleRx();
  }

  hasPendingRx(): boolean {
    return this.ctrlQueue.length > 0 || this.ready.size > 0;
  }

  /** The next packet for the guest, with at most maxPayload data bytes, or null. Stray RSTs go first. */
  nextGuestPacket(maxPayload: number): VsockPacket | null {
    const ctrl = this.ctrlQueue.shift();
    if (ctrl) return { hdr: ctrl, payload: new Uint8Array(0) };
    // Each connection re-queued at the back after its turn; the budget stops a lap over the re-queued ones.
    let budget = this.ready.size;
    for (const conn of this.ready) {
      if (budget-- <= 0) break;
      this.ready.delete(conn);
      const pkt = conn.nextPacket(maxPayload);
      if (conn.hasPendingRx()) this.ready.add(conn);
      if (pkt) return pkt;
    }
    return null;
  }

  /** Device reset: every connection dropped without a packet; the listener stays. */
  reset(): void {
    for (const conn of [...this.conns.values()]) conn.destroy();
    this.conns.clear();
    this.hostPorts.clear();
    this.ready.clear();
    this.ctrlQueue.length = 0;
  }

  /** Stops listening and closes every socket (the VMM calls this at exit). */
  async close(): Promise<void> {
    this.closed = true;
    this.reset();
    for (const s of this.handshaking) s.destroy();
    this.handshaking.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private scheduleRx(): void {
    if (this.rxScheduled || this.closed) return;
    this.rxScheduled = true;
    queueMicrotask(() => {
      this.rxScheduled = false;
      if (!this.closed && this.hasPendingRx()) this.opts.onRxReady();
    });
  }

  private forget(conn: VsockConnection): void {
    const key = connKey(conn.localPort, conn.peerPort);
    if (this.conns.get(key) === conn) {
      this.conns.delete(key);
      if (conn.initiator === 'host') this.hostPorts.delete(conn.localPort);
    }
    this.ready.delete(conn);
  }

  private full(): boolean {
    return this.conns.size + this.handshaking.size >= this.maxConnections;
  }

  private openGuestInitiated(hdr: VsockHeader): void {
    if (this.full()) {
      this.log(`too many connections (${this.maxConnections}), refused ${describeHeader(hdr)}`);
      this.queueRst(hdr);
      return;
    }
    let socket: net.Socket;
    try {
      socket = net.connect({ path: `${this.udsPath}_${hdr.dstPort}`, allowHalfOpen: true });
    } catch (err) {
      this.log(`cannot connect to ${this.udsPath}_${hdr.dstPort}: ${(err as Error).message}`);
      this.queueRst(hdr);
      return;
    }
    const conn = new VsockConnection({
      guestCid: this.guestCid, localPort: hdr.dstPort, peerPort: hdr.srcPort, initial: 'accepting',
      request: hdr, socket, hooks: this.hooks,
    });
    this.conns.set(connKey(hdr.dstPort, hdr.srcPort), conn);
  }

  private onHostSocket(socket: net.Socket): void {
    if (this.closed || this.full()) {
      if (!this.closed) this.log(`too many connections (${this.maxConnections}), host connection closed`);
      socket.destroy();
      return;
    }
    this.handshaking.add(socket);
    let line = Buffer.alloc(0); // at most CONNECT_LINE_MAX bytes
    const timer = setTimeout(() => fail(`no CONNECT line within ${this.opts.connectLineTimeoutMs ?? CONNECT_LINE_TIMEOUT_MS} ms`),
      this.opts.connectLineTimeoutMs ?? CONNECT_LINE_TIMEOUT_MS);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      this.handshaking.delete(socket);
    };
    const fail = (why: string): void => {
      done();
      this.log(`host connection closed: ${why}`);
      socket.destroy();
    };
    const onClose = (): void => done();
    const onError = (): void => undefined; // 'close' follows
    const onData = (chunk: Buffer): void => {
      const before = line.length;
      line = Buffer.concat([line, chunk.subarray(0, CONNECT_LINE_MAX - before)]);
      const nl = line.indexOf(NEWLINE);
      if (nl < 0) {
        if (line.length >= CONNECT_LINE_MAX) fail(`CONNECT line longer than ${CONNECT_LINE_MAX} bytes`);
        return;
      }
      const m = CONNECT_LINE_RE.exec(line.subarray(0, nl).toString('latin1'));
      const port = m ? Number(m[1]) : NaN;
      if (!m || port > U32_MAX) {
        fail(`bad CONNECT line ${JSON.stringify(line.subarray(0, nl).toString('latin1'))}`);
        return;
      }
      // Bytes after the line belong to the stream: hand them back to the socket for the connection.
      const rest = chunk.subarray(nl + 1 - before);
      done();
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      this.openHostInitiated(socket, port);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.resume();
  }

  private openHostInitiated(socket: net.Socket, peerPort: number): void {
    if (this.closed || this.full()) {
      if (!this.closed) this.log(`too many connections (${this.maxConnections}), host connection closed`);
      socket.destroy();
      return;
    }
    const localPort = this.allocateHostPort(peerPort);
    const conn = new VsockConnection({
      guestCid: this.guestCid, localPort, peerPort, initial: 'connecting', socket, hooks: this.hooks,
      requestTimeoutMs: this.opts.requestTimeoutMs ?? CONN_REQUEST_TIMEOUT_MS,
    });
    this.conns.set(connKey(localPort, peerPort), conn);
    this.hostPorts.add(localPort);
  }

  /** Next free port of the high range; at most maxConnections are in use, so the scan is short. */
  private allocateHostPort(peerPort: number): number {
    for (;;) {
      const p = this.nextHostPort;
      this.nextHostPort = p + 1 >= HOST_PORT_END ? HOST_PORT_FIRST : p + 1;
      // A guest-initiated connection to a port of this range may hold the same pair: skip it too.
      if (!this.hostPorts.has(p) && !this.conns.has(connKey(p, peerPort))) return p;
    }
  }
}
