// The virtio-blk device: a raw image file behind one request queue (config space, features, activation, notify loop).
import fs from 'node:fs';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { VIRTIO_F_VERSION_1, VIRTIO_ID_BLOCK, VIRTIO_RING_F_INDIRECT_DESC } from '../constants.js';
import type { Queue } from '../queue.js';
import type { ActivateContext, VirtioDevice, VirtioInterrupt } from '../virtio-device.js';
import {
  BLK_CFG_BLK_SIZE, BLK_CFG_CAPACITY, BLK_CFG_SEG_MAX, BLK_CFG_SIZE, BLK_CFG_SIZE_MAX, BLK_ID_BYTES, BLK_QUEUE_SIZE,
  BLK_SEG_MAX, BLK_SIZE_MAX, SECTOR_SIZE, VIRTIO_BLK_F_BLK_SIZE, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_SIZE_MAX,
} from './protocol.js';
import { executeRequest, type Disk } from './request.js';

/** One drive: the image path, whether the guest may write it, and the serial GET_ID reports (up to 20 ASCII bytes). */
export interface BlockConfig {
  path: string;
  readOnly: boolean;
  id?: string;
}

/** After this many guest-caused log lines, further ones are dropped (a hostile guest must not flood the log). */
const MAX_LOG_LINES = 64;

interface Active { mem: GuestMemory; queue: Queue; interrupt: VirtioInterrupt; disk: Disk }

export class VirtioBlock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly queueMaxSizes = [BLK_QUEUE_SIZE];
  readonly availableFeatures: bigint;
  /** capacity in 512-byte sectors (a partial last sector of the image is not exposed) */
  readonly sectors: number;
  readonly path: string;
  readonly readOnly: boolean;
  private readonly fd: number;
  private readonly id: Uint8Array;
  private readonly config: Uint8Array;
  private active: Active | null = null;
  private logged = 0;

  constructor(config: BlockConfig, private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    this.path = config.path;
    this.readOnly = config.readOnly;
    this.id = new Uint8Array(BLK_ID_BYTES);
    const id = Buffer.from(config.id ?? '', 'ascii');
    if (config.id !== undefined && (id.length > BLK_ID_BYTES || !/^[\x20-\x7e]*$/.test(config.id))) {
      throw new Error(`virtio-blk ${config.path}: id "${config.id}" must be at most ${BLK_ID_BYTES} printable ASCII characters`);
    }
    this.id.set(id);
    try {
      this.fd = fs.openSync(config.path, config.readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR);
    } catch (e) {
      throw new Error(`virtio-blk: cannot open ${config.path}: ${(e as Error).message}`);
    }
    const size = fs.fstatSync(this.fd).size;
    this.sectors = Math.floor(size / SECTOR_SIZE);
    if (size % SECTOR_SIZE !== 0) this.log(`virtio-blk ${config.path}: size ${size} is not a multiple of ${SECTOR_SIZE}; the last partial sector is hidden`);
    this.availableFeatures = VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_SEG_MAX |
      VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_BLK_SIZE | (config.readOnly ? VIRTIO_BLK_F_RO : 0n);
    this.config = new Uint8Array(BLK_CFG_SIZE);
    const v = new DataView(this.config.buffer);
    v.setBigUint64(BLK_CFG_CAPACITY, BigInt(this.sectors), true);
    v.setUint32(BLK_CFG_SIZE_MAX, BLK_SIZE_MAX, true);
    v.setUint32(BLK_CFG_SEG_MAX, BLK_SEG_MAX, true);
    v.setUint32(BLK_CFG_BLK_SIZE, SECTOR_SIZE, true);
  }

  readConfig(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset < 0 || offset >= BLK_CFG_SIZE) return;
    data.set(this.config.subarray(offset, Math.min(BLK_CFG_SIZE, offset + data.length)));
  }

  writeConfig(): void {
    // nothing in our config is driver-writable (VIRTIO_BLK_F_CONFIG_WCE is not offered)
  }

  activate(ctx: ActivateContext): void {
    const queue = ctx.queues[0];
    if (!queue) throw new Error(`virtio-blk ${this.path}: request queue was not set up`);
    const disk: Disk = {
      fd: this.fd, readOnly: this.readOnly, sectors: this.sectors, id: this.id,
      writeThrough: (ctx.ackedFeatures & VIRTIO_BLK_F_FLUSH) === 0n,
    };
    this.active = { mem: ctx.mem, queue, interrupt: ctx.interrupt, disk };
  }

  reset(): void {
    this.active = null;
  }

  /** Runs every available request in turn, then interrupts once. QueueError propagates to the transport. */
  queueNotify(queueIndex: number): void {
    const a = this.active;
    if (!a || queueIndex !== 0) return;
    let used = 0;
    try {
      for (let chain = a.queue.pop(a.mem); chain; chain = a.queue.pop(a.mem)) {
        const len = executeRequest(a.mem, chain, a.disk, (line) => this.guestLog(line));
        a.queue.addUsed(a.mem, chain.head, len);
        used++;
      }
    } finally {
      if (used > 0) a.interrupt.signalUsedQueue(0);
    }
  }

  /** Closes the image file (when the VM is torn down). */
  close(): void {
    this.active = null;
    fs.closeSync(this.fd);
  }

  private guestLog(line: string): void {
    if (this.logged > MAX_LOG_LINES) return;
    this.logged++;
    this.log(this.logged > MAX_LOG_LINES ? `virtio-blk ${this.path}: too many request errors; no longer logging them` : `virtio-blk ${this.path}: ${line}`);
  }
}
