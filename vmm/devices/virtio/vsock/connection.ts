// One vsock stream bridged to one Unix socket: its state machine and credit flow control both ways.
import type { Socket } from 'node:net';
import {
  VSOCK_HOST_CID, VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE,
  VSOCK_OP_RST, VSOCK_OP_RW, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_MASK, VSOCK_SHUTDOWN_RCV, VSOCK_SHUTDOWN_SEND,
  VSOCK_TYPE_STREAM, describeHeader,
  type VsockHeader, type VsockPacket,
} from './packet.js';

/** Our receive buffer as advertised to the guest: guest bytes not yet accepted by the Unix socket. */
export const CONN_BUF_ALLOC = 256 * 1024;
/** When the guest believes it has less than this much credit left, tell it our fwd_cnt. */
export const CONN_CREDIT_UPDATE_THRESHOLD = 64 * 1024;
/** Host bytes held for the guest before reading the Unix socket pauses (back-pressure). */
export const CONN_RX_PAUSE_BYTES = 64 * 1024;
/** How long a REQUEST to the guest may stay unanswered. */
export const CONN_REQUEST_TIMEOUT_MS = 2000;

/**
 * connecting: host-initiated, REQUEST queued or sent, waiting for RESPONSE.
 * accepting: guest-initiated, REQUEST received, the Unix connect is in progress.
 * established: data flows both ways.
 * closing: a SHUTDOWN was seen or sent, or the Unix socket is gone; draining.
 * closed: finished (RST sent or received); the muxer has dropped it.
 */
export type ConnState = 'connecting' | 'accepting' | 'established' | 'closing' | 'closed';

/** What a connection needs from the muxer. */
export interface ConnectionHooks {
  /** the connection has something for the guest (it becomes ready for nextPacket) */
  readonly wantRx: (conn: VsockConnection) => void;
  /** the connection is finished; forget it */
  readonly removed: (conn: VsockConnection) => void;
  readonly log: (message: string) => void;
}

export interface ConnectionOptions {
  readonly guestCid: bigint;
  /** host-side port (src_port of our packets) */
  readonly localPort: number;
  /** guest-side port */
  readonly peerPort: number;
  /** 'connecting' for host-initiated, 'accepting' for guest-initiated */
  readonly initial: 'connecting' | 'accepting';
  /** the guest's REQUEST, for guest-initiated connections (carries its credit) */
  readonly request?: VsockHeader;
  readonly socket: Socket;
  readonly hooks: ConnectionHooks;
  readonly requestTimeoutMs?: number;
}

const u32 = (n: number): number => n >>> 0;

export class VsockConnection {
  readonly localPort: number;
  readonly peerPort: number;
  readonly guestCid: bigint;
  /** who opened it: the host (CONNECT line) or the guest (REQUEST) */
  readonly initiator: 'host' | 'guest';
  private st: ConnState;
  private readonly socket: Socket;
  private readonly hooks: ConnectionHooks;
  private timer: NodeJS.Timeout | undefined;

  // Guest -> host accounting (u32 wrapping counters, as on the wire).
  readonly bufAlloc = CONN_BUF_ALLOC;
  private rxCnt = 0; // bytes the guest sent us
  private fwdCnt = 0; // of those, bytes the Unix socket accepted
  private lastFwdCntToPeer = 0;
  // Host -> guest accounting.
  private txCnt = 0;
  private peerBufAlloc = 0;
  private peerFwdCnt = 0;

  // Packets owed to the guest.
  private requestOwed = false;
  private requestSent = false;
  private responseOwed = false;
  private creditUpdateOwed = false;
  private creditRequestOwed = false;
  private creditRequestSent = false;
  private shutdownSendOwed = false; // host EOF, to be told once the data before it is delivered
  private rstOwed = false;

  // Data read from the Unix socket, not yet delivered to the guest (bounded by CONN_RX_PAUSE_BYTES + one chunk).
  private readonly rxChunks: Buffer[] = [];
  private rxBytes = 0;

  private peerShutdown = 0; // SHUTDOWN flags the guest sent
  private hostEof = false; // the Unix peer will send no more
  private hostEofTold = false; // we told the guest (SHUTDOWN SEND)
  private socketEnded = false; // we ended our write side and it flushed
  private socketGone = false; // the Unix socket is closed
  private socketError: string | undefined;
  private readonly requestTimeoutMs: number;

  constructor(opts: ConnectionOptions) {
    this.localPort = opts.localPort;
    this.peerPort = opts.peerPort;
    this.guestCid = opts.guestCid;
    this.socket = opts.socket;
    this.hooks = opts.hooks;
    this.st = opts.initial;
    this.initiator = opts.initial === 'connecting' ? 'host' : 'guest';
    this.requestTimeoutMs = opts.requestTimeoutMs ?? CONN_REQUEST_TIMEOUT_MS;
    if (opts.request) this.updatePeerCredit(opts.request);
    this.socket.pause();
    this.socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    this.socket.on('end', () => this.onSocketEnd());
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketError(err));
    this.socket.on('close', () => this.onSocketClose());
    if (opts.initial === 'connecting') {
      this.requestOwed = true;
      this.timer = setTimeout(() => this.onRequestTimeout(), this.requestTimeoutMs);
      this.timer.unref();
      this.hooks.wantRx(this);
    } else {
      this.socket.once('connect', () => this.onSocketConnect());
    }
  }

  get state(): ConnState {
    return this.st;
  }

  get name(): string {
    return `vsock ${this.guestCid}:${this.peerPort} <-> host:${this.localPort}`;
  }

  /** Credit the guest has given us: bytes we may still send before it reports consuming more. */
  get peerCredit(): number {
    const inFlight = u32(this.txCnt - this.peerFwdCnt);
    return Math.max(0, this.peerBufAlloc - inFlight);
  }

  /** Bytes read from the Unix socket and held for the guest. */
  get pendingRxBytes(): number {
    return this.rxBytes;
  }

  /** True when nextPacket would return a packet. */
  hasPendingRx(): boolean {
    if (this.st === 'closed') return false;
    if (this.requestOwed) return true;
    if (this.st === 'connecting' || this.st === 'accepting') return false;
    if (this.responseOwed || this.creditUpdateOwed) return true;
    if (this.rxBytes > 0) return this.peerCredit > 0 || this.creditRequestOwed;
    return this.shutdownSendOwed || this.rstOwed;
  }

  /** The next packet for the guest, with at most maxPayload data bytes, or null. */
  nextPacket(maxPayload: number): VsockPacket | null {
    if (this.st === 'closed') return null;
    if (this.requestOwed) {
      this.requestOwed = false;
      this.requestSent = true;
      return this.control(VSOCK_OP_REQUEST);
    }
    if (this.st === 'connecting' || this.st === 'accepting') return null;
    if (this.responseOwed) {
      this.responseOwed = false;
      return this.control(VSOCK_OP_RESPONSE);
    }
    if (this.rxBytes > 0) {
      // Data first: SHUTDOWN and RST wait until every byte before them is delivered.
      const n = Math.min(this.rxBytes, this.peerCredit, maxPayload);
      if (n > 0) return this.takeData(n);
      if (this.creditRequestOwed) {
        this.creditRequestOwed = false;
        this.creditRequestSent = true;
        return this.control(VSOCK_OP_CREDIT_REQUEST);
      }
      return this.creditUpdateOwed ? this.control(VSOCK_OP_CREDIT_UPDATE) : null;
    }
    if (this.shutdownSendOwed) {
      // Tell the guest about host EOF only after every byte before it was delivered.
      this.shutdownSendOwed = false;
      this.hostEofTold = true;
      const pkt = this.control(VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND);
      this.checkFinished();
      return pkt;
    }
    if (this.rstOwed) {
      this.rstOwed = false;
      return this.finish(true);
    }
    if (this.creditUpdateOwed) return this.control(VSOCK_OP_CREDIT_UPDATE);
    return null;
  }

  /** A packet from the guest addressed to this connection (CIDs and ports already matched). */
  handlePacket(pkt: VsockPacket): void {
    const { hdr } = pkt;
    if (this.st === 'closed' || this.rstOwed) return;
    this.updatePeerCredit(hdr);
    if (hdr.op === VSOCK_OP_RST) {
      this.finish(false);
      return;
    }
    switch (this.st) {
      case 'connecting':
        if (hdr.op === VSOCK_OP_RESPONSE && this.requestSent) this.onResponse();
        else this.kill(`unexpected ${describeHeader(hdr)} while connecting`);
        return;
      case 'accepting':
        this.kill(`unexpected ${describeHeader(hdr)} before the host accepted`);
        return;
      default:
        break;
    }
    switch (hdr.op) {
      case VSOCK_OP_RW:
        this.onGuestData(pkt.payload);
        break;
      case VSOCK_OP_CREDIT_UPDATE:
        // updatePeerCredit did the work; data held for lack of credit may now go.
        this.creditRequestSent = false;
        if (this.hasPendingRx()) this.hooks.wantRx(this);
        break;
      case VSOCK_OP_CREDIT_REQUEST:
        this.creditUpdateOwed = true;
        this.hooks.wantRx(this);
        break;
      case VSOCK_OP_SHUTDOWN:
        this.onGuestShutdown(hdr.flags & VSOCK_SHUTDOWN_MASK);
        break;
      default:
        this.kill(`unexpected ${describeHeader(hdr)} on an open connection`);
    }
  }

  /** Aborts: RST to the guest (if it knows of us), the Unix socket destroyed. */
  kill(reason: string): void {
    if (this.st === 'closed' || this.rstOwed) return;
    this.hooks.log(`${this.name}: reset: ${reason}`);
    this.dropRx();
    this.clearTimer();
    this.socket.destroy();
    if (this.st === 'connecting' && !this.requestSent) {
      this.finish(false);
      return;
    }
    this.st = 'closing';
    this.rstOwed = true;
    this.hooks.wantRx(this);
  }

  /** Drops the connection with no packet to the guest (device reset, VMM exit). */
  destroy(): void {
    if (this.st === 'closed') return;
    this.dropRx();
    this.finish(false);
  }

  private control(op: number, flags = 0): VsockPacket {
    return { hdr: this.header(op, 0, flags), payload: new Uint8Array(0) };
  }

  private header(op: number, len: number, flags: number): VsockHeader {
    // Every packet reports our fwd_cnt, so the guest's view of our credit is now fresh.
    this.lastFwdCntToPeer = this.fwdCnt;
    this.creditUpdateOwed = false;
    return {
      srcCid: VSOCK_HOST_CID, dstCid: this.guestCid, srcPort: this.localPort, dstPort: this.peerPort,
      len, type: VSOCK_TYPE_STREAM, op, flags, bufAlloc: this.bufAlloc, fwdCnt: this.fwdCnt,
    };
  }

  private takeData(n: number): VsockPacket {
    let payload: Uint8Array;
    const first = this.rxChunks[0]!;
    if (first.length > n) {
      payload = first.subarray(0, n);
      this.rxChunks[0] = first.subarray(n);
    } else if (first.length === n) {
      payload = first;
      this.rxChunks.shift();
    } else {
      const out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.rxChunks[0]!;
        const take = Math.min(c.length, n - off);
        c.copy(out, off, 0, take);
        off += take;
        if (take === c.length) this.rxChunks.shift();
        else this.rxChunks[0] = c.subarray(take);
      }
      payload = out;
    }
    this.rxBytes -= n;
    this.txCnt = u32(this.txCnt + n);
    this.creditRequestSent = false;
    this.noteCreditStall();
    if (this.rxBytes < CONN_RX_PAUSE_BYTES && !this.socketGone && !this.hostEof) this.socket.resume();
    return { hdr: this.header(VSOCK_OP_RW, n, 0), payload };
  }

  /** Out of guest credit with data waiting: ask once for an update (the guest answers CREDIT_REQUEST). */
  private noteCreditStall(): void {
    if (this.rxBytes > 0 && this.peerCredit === 0 && !this.creditRequestSent) this.creditRequestOwed = true;
  }

  private updatePeerCredit(hdr: VsockHeader): void {
    this.peerBufAlloc = hdr.bufAlloc;
    this.peerFwdCnt = hdr.fwdCnt;
  }

  private onResponse(): void {
    this.clearTimer();
    this.st = 'established';
    this.socket.write(`OK ${this.localPort}\n`);
    this.socket.resume();
    if (this.hostEof) this.onHostEof();
    this.noteCreditStall();
    if (this.hasPendingRx()) this.hooks.wantRx(this);
  }

  private onSocketConnect(): void {
    if (this.st !== 'accepting') return;
    this.st = 'established';
    this.responseOwed = true;
    this.socket.resume();
    if (this.hostEof) this.onHostEof();
    this.hooks.wantRx(this);
  }

  private onGuestData(payload: Uint8Array): void {
    if (payload.length === 0) return;
    if (this.peerShutdown & VSOCK_SHUTDOWN_SEND) {
      this.kill('data after the guest shut down sending');
      return;
    }
    if (this.socketGone) {
      this.kill('data for a closed Unix socket');
      return;
    }
    const held = u32(this.rxCnt + payload.length - this.fwdCnt);
    if (held > this.bufAlloc) {
      this.kill(`guest exceeded its credit (${held} bytes outstanding, ${this.bufAlloc} granted)`);
      return;
    }
    this.rxCnt = u32(this.rxCnt + payload.length);
    const len = payload.length;
    this.socket.write(payload, (err) => {
      if (err || this.st === 'closed') return;
      this.fwdCnt = u32(this.fwdCnt + len);
      this.maybeCreditUpdate();
    });
    this.maybeCreditUpdate();
  }

  /** Owe a CREDIT_UPDATE when the guest believes it is nearly out of credit and we have freed some. */
  private maybeCreditUpdate(): void {
    if (this.st === 'closed' || this.fwdCnt === this.lastFwdCntToPeer) return;
    const guestView = this.bufAlloc - u32(this.rxCnt - this.lastFwdCntToPeer);
    if (guestView < CONN_CREDIT_UPDATE_THRESHOLD && !this.creditUpdateOwed) {
      this.creditUpdateOwed = true;
      this.hooks.wantRx(this);
    }
  }

  private onGuestShutdown(flags: number): void {
    const fresh = flags & ~this.peerShutdown;
    this.peerShutdown |= flags;
    if (this.st === 'established') this.st = 'closing';
    if (fresh & VSOCK_SHUTDOWN_RCV) {
      // The guest reads no more: host data is discarded from now on.
      this.dropRx();
      this.shutdownSendOwed = false;
      if (!this.socketGone) this.socket.resume();
    }
    if (fresh & VSOCK_SHUTDOWN_SEND) {
      if (this.socketGone) this.socketEnded = true;
      else this.socket.end(() => {
        this.socketEnded = true;
        this.checkFinished();
      });
    }
    this.checkFinished();
  }

  private onSocketData(chunk: Buffer): void {
    if (this.st === 'closed' || this.rstOwed) return;
    if (this.peerShutdown & VSOCK_SHUTDOWN_RCV) return; // discarded: the guest will not read it
    this.rxChunks.push(chunk);
    this.rxBytes += chunk.length;
    if (this.rxBytes >= CONN_RX_PAUSE_BYTES) this.socket.pause();
    if (this.st === 'established' || this.st === 'closing') {
      this.noteCreditStall();
      if (this.hasPendingRx()) this.hooks.wantRx(this);
    }
  }

  private onSocketEnd(): void {
    if (this.st === 'closed' || this.hostEof) return;
    this.hostEof = true;
    if (this.st === 'established' || this.st === 'closing') this.onHostEof();
  }

  /** The Unix peer sends no more: once the data before it is delivered, tell the guest (SHUTDOWN SEND). */
  private onHostEof(): void {
    this.st = 'closing';
    if (this.peerShutdown & VSOCK_SHUTDOWN_RCV) this.hostEofTold = true;
    else this.shutdownSendOwed = true;
    this.checkFinished();
    if (this.hasPendingRx()) this.hooks.wantRx(this);
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    // 'close' follows and does the work; keep the cause for its log line.
    this.socketError ??= err.code ?? err.message;
  }

  private onSocketClose(): void {
    this.socketGone = true;
    if (this.st === 'closed' || this.rstOwed) return;
    this.clearTimer();
    if (this.st === 'accepting') {
      this.kill(`host refused (${this.socketError ?? 'closed'})`);
      return;
    }
    if (this.st === 'connecting' || (this.peerShutdown & VSOCK_SHUTDOWN_RCV)) {
      this.kill(`Unix socket closed${this.socketError ? ` (${this.socketError})` : ''}`);
      return;
    }
    // Deliver what the host sent before it went away, then reset.
    this.st = 'closing';
    this.hostEof = true;
    this.rstOwed = true;
    this.hooks.wantRx(this);
  }

  private onRequestTimeout(): void {
    this.timer = undefined;
    if (this.st === 'connecting') this.kill(`no RESPONSE from the guest within ${this.requestTimeoutMs} ms`);
  }

  /** Both directions done: reset the stream (the guest expects the final RST). */
  private checkFinished(): void {
    if (this.st !== 'closing' || this.rstOwed) return;
    const guestSendDone = (this.peerShutdown & VSOCK_SHUTDOWN_SEND) !== 0 && this.socketEnded;
    const hostSendDone = (this.peerShutdown & VSOCK_SHUTDOWN_RCV) !== 0 || (this.hostEofTold && this.rxBytes === 0);
    if (guestSendDone && hostSendDone) {
      this.socket.destroy();
      this.rstOwed = true;
      this.hooks.wantRx(this);
    }
  }

  private dropRx(): void {
    this.rxChunks.length = 0;
    this.rxBytes = 0;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ends the connection; returns the RST packet when one is due to the guest. */
  private finish(sendRst: true): VsockPacket;
  private finish(sendRst: false): null;
  private finish(sendRst: boolean): VsockPacket | null {
    const pkt = sendRst ? this.control(VSOCK_OP_RST) : null;
    this.clearTimer();
    this.st = 'closed';
    this.socket.destroy();
    this.hooks.removed(this);
    return pkt;
  }
}
