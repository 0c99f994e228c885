// The virtio-vsock device: config space, the rx/tx/event queues, and the muxer that bridges streams to Unix sockets.
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { chainSegments, readChain, segmentsLength, sliceSegments, writeSegments } from '../chain-io.js';
import { VIRTIO_F_VERSION_1, VIRTIO_ID_VSOCK } from '../constants.js';
import { QueueError, type Queue } from '../queue.js';
import type { ActivateContext, VirtioDevice, VirtioInterrupt } from '../virtio-device.js';
import { VsockMuxer, type VsockMuxerOptions } from './muxer.js';
import {
  VSOCK_HDR_SIZE, VSOCK_MAX_GUEST_CID, VSOCK_MAX_PAYLOAD, VSOCK_MIN_GUEST_CID, VsockPacketError, decodePacket, encodeHeader, type VsockPacket,
} from './packet.js';
import { rateLimitedLog, type LogFn } from './rate-limited-log.js';

export interface VsockConfig {
  /** the guest's context id: >= 3 and < 0xffffffff */
  readonly guestCid: number;
  /** host programs connect here (`CONNECT <port>\n`); guest connections to port P go to `${udsPath}_${P}` */
  readonly udsPath: string;
}

/** Queue indices (virtio 1.2, 5.10.2). */
export const VSOCK_QUEUE_RX = 0;
export const VSOCK_QUEUE_TX = 1;
export const VSOCK_QUEUE_EVENT = 2;
export const VSOCK_QUEUE_SIZE = 256;
/** Config space: le64 guest_cid at offset 0. */
export const VSOCK_CONFIG_GUEST_CID = 0;
export const VSOCK_CONFIG_SIZE = 8;

/** Tunables for tests; the VMM uses the defaults. */
export type VsockDeviceOptions = Pick<VsockMuxerOptions, 'maxConnections' | 'requestTimeoutMs' | 'connectLineTimeoutMs'>;

interface Active { mem: GuestMemory; rx: Queue; tx: Queue; interrupt: VirtioInterrupt }

export class VirtioVsock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_VSOCK;
  readonly queueMaxSizes = [VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE];
  /** stream only: with no feature bit set the driver uses stream sockets (no VIRTIO_VSOCK_F_SEQPACKET) */
  readonly availableFeatures = VIRTIO_F_VERSION_1;
  readonly config: VsockConfig;
  readonly muxer: VsockMuxer;
  /** resolves once the Unix listener is bound at udsPath; rejects (and logs) when it cannot be */
  readonly listening: Promise<void>;
  private readonly configBytes = new Uint8Array(VSOCK_CONFIG_SIZE);
  private readonly log: LogFn;
  private active: Active | null = null;
  private isBroken = false;
  /** tx was left in the ring because the muxer's control queue was full; resume after rx drains it */
  private txBlocked = false;

  constructor(config: VsockConfig, log: LogFn = (l) => process.stderr.write(`${l}\n`), opts: VsockDeviceOptions = {}) {
    if (!Number.isInteger(config.guestCid) || config.guestCid < VSOCK_MIN_GUEST_CID || config.guestCid > VSOCK_MAX_GUEST_CID) {
      throw new RangeError(`virtio-vsock: guest CID ${config.guestCid} is not in ${VSOCK_MIN_GUEST_CID}..${VSOCK_MAX_GUEST_CID}`);
    }
    if (config.udsPath.length === 0) throw new RangeError('virtio-vsock: empty udsPath');
    this.config = { guestCid: config.guestCid, udsPath: config.udsPath };
    this.log = rateLimitedLog(log);
    new DataView(this.configBytes.buffer).setBigUint64(VSOCK_CONFIG_GUEST_CID, BigInt(config.guestCid), true);
    this.muxer = new VsockMuxer({ ...opts, guestCid: config.guestCid, udsPath: config.udsPath, log, onRxReady: () => this.processRx() });
    this.listening = this.muxer.listen();
    this.listening.catch((e: Error) => this.log(`virtio-vsock: ${e.message}`));
  }

  get broken(): boolean {
    return this.isBroken;
  }

  readConfig(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      data[i] = at >= 0 && at < VSOCK_CONFIG_SIZE ? this.configBytes[at]! : 0;
    }
  }

  writeConfig(): void {} // guest_cid is read-only

  activate(ctx: ActivateContext): void {
    const rx = ctx.queues[VSOCK_QUEUE_RX];
    const tx = ctx.queues[VSOCK_QUEUE_TX];
    if (!rx || !tx) throw new Error('virtio-vsock: the rx and tx queues must be set up');
    this.active = { mem: ctx.mem, rx, tx, interrupt: ctx.interrupt };
    this.isBroken = false;
    this.txBlocked = false;
    // Host connections made before the driver came up have their REQUESTs waiting.
    this.processRx();
  }

  reset(): void {
    this.active = null;
    this.isBroken = false;
    this.txBlocked = false;
    this.muxer.reset();
  }

  queueNotify(queueIndex: number): void {
    if (queueIndex === VSOCK_QUEUE_TX) this.processTx();
    else if (queueIndex === VSOCK_QUEUE_RX) this.processRx();
    // The event queue only carries TRANSPORT_RESET, which this device never sends.
  }

  /** Stops listening and closes every Unix socket (the VMM calls this at exit). */
  close(): Promise<void> {
    this.active = null;
    return this.muxer.close();
  }

  /** Hands every tx packet to the muxer; all are consumed (bad ones dropped or answered with RST). */
  private processTx(): void {
    const a = this.active;
    if (!a || this.isBroken) return;
    let used = 0;
    try {
      for (;;) {
        if (!this.muxer.canAcceptTx()) {
          this.txBlocked = true;
          break;
        }
        const chain = a.tx.pop(a.mem);
        if (!chain) break;
        let bytes: Uint8Array | null = null;
        try {
          bytes = readChain(a.mem, chain, VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD);
        } catch (e) {
          if (!(e instanceof QueueError)) throw e;
          this.log(`virtio-vsock: tx packet dropped: ${e.message}`);
        }
        a.tx.addUsed(a.mem, chain.head, 0);
        used++;
        if (bytes) this.handleTxBytes(bytes);
      }
    } catch (e) {
      this.fail('tx', e);
    } finally {
      if (used > 0) a.interrupt.signalUsedQueue(VSOCK_QUEUE_TX);
    }
  }

  private handleTxBytes(bytes: Uint8Array): void {
    let pkt: VsockPacket;
    try {
      pkt = decodePacket(bytes);
    } catch (e) {
      if (!(e instanceof VsockPacketError)) throw e;
      this.muxer.rejectGuestPacket(e);
      return;
    }
    this.muxer.handleGuestPacket(pkt);
  }

  /** Fills guest rx buffers with what the muxer has, one packet per chain. */
  private processRx(): void {
    const a = this.active;
    if (!a || this.isBroken) return;
    let used = 0;
    try {
      while (this.muxer.hasPendingRx()) {
        const chain = a.rx.pop(a.mem);
        if (!chain) break; // no buffers: data stays in the Unix sockets (they pause when their small hold is full)
        const segments = chainSegments(chain, true);
        const room = segmentsLength(segments);
        if (room < VSOCK_HDR_SIZE) {
          this.log(`virtio-vsock: rx buffer ${chain.head} holds ${room} bytes, less than a header; returned empty`);
          a.rx.addUsed(a.mem, chain.head, 0);
          used++;
          continue;
        }
        const pkt = this.muxer.nextGuestPacket(Math.min(room - VSOCK_HDR_SIZE, VSOCK_MAX_PAYLOAD));
        if (!pkt) {
          a.rx.undoPop();
          break;
        }
        // Header, then payload straight from the socket's chunk: no intermediate packet buffer.
        writeSegments(a.mem, segments, encodeHeader(pkt.hdr));
        writeSegments(a.mem, sliceSegments(segments, VSOCK_HDR_SIZE, pkt.payload.length), pkt.payload);
        a.rx.addUsed(a.mem, chain.head, VSOCK_HDR_SIZE + pkt.payload.length);
        used++;
      }
    } catch (e) {
      this.fail('rx', e);
    } finally {
      if (used > 0) a.interrupt.signalUsedQueue(VSOCK_QUEUE_RX);
    }
    if (this.txBlocked && this.muxer.canAcceptTx()) {
      this.txBlocked = false;
      this.processTx();
    }
  }

  /** A malformed ring is fatal for the device (the transport then reports DEVICE_NEEDS_RESET); anything else is a bug. */
  private fail(queue: string, e: unknown): void {
    // By name: importing GuestMemoryError's module as a value would load the KVM addon.
    if (!(e instanceof QueueError) && !(e instanceof Error && e.name === 'GuestMemoryError')) throw e;
    this.isBroken = true;
    this.log(`virtio-vsock: ${queue} queue: ${e.message}; device needs reset`);
  }
}
