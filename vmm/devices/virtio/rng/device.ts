// The virtio-rng (entropy) device: one queue whose device-writable buffers are filled from the host CSPRNG.
import { randomFillSync } from 'node:crypto';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { chainSegments, sliceSegments } from '../chain-io.js';
import { VIRTIO_F_VERSION_1, VIRTIO_ID_RNG } from '../constants.js';
import type { Queue } from '../queue.js';
import type { ActivateContext, VirtioDevice, VirtioInterrupt } from '../virtio-device.js';

/** The request queue's size. */
export const RNG_QUEUE_SIZE = 256;
/** At most this many random bytes per request, however large the guest's buffers (Linux asks for far less). */
export const RNG_MAX_BYTES_PER_REQUEST = 64 * 1024;

interface Active { mem: GuestMemory; queue: Queue; interrupt: VirtioInterrupt }

export class VirtioRng implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_RNG;
  readonly queueMaxSizes = [RNG_QUEUE_SIZE];
  readonly availableFeatures = VIRTIO_F_VERSION_1;
  private active: Active | null = null;
  /** a request with no writable buffer is logged once per activation (a guest must not flood the log) */
  private warnedEmpty = false;

  constructor(private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0); // virtio-rng has no config space
  }

  writeConfig(): void {}

  activate(ctx: ActivateContext): void {
    const queue = ctx.queues[0];
    if (!queue) throw new Error('virtio-rng: request queue was not set up');
    this.active = { mem: ctx.mem, queue, interrupt: ctx.interrupt };
    this.warnedEmpty = false;
  }

  reset(): void {
    this.active = null;
  }

  /** Fills every available chain's writable buffers (bounded), then interrupts once. QueueError propagates. */
  queueNotify(queueIndex: number): void {
    const a = this.active;
    if (!a || queueIndex !== 0) return;
    let used = 0;
    try {
      for (let chain = a.queue.pop(a.mem); chain; chain = a.queue.pop(a.mem)) {
        let written = 0;
        // the views alias guest RAM, so the random bytes land there directly
        for (const s of sliceSegments(chainSegments(chain, true), 0, RNG_MAX_BYTES_PER_REQUEST)) {
          randomFillSync(a.mem.view(s.addr, s.len));
          written += s.len;
        }
        if (written === 0 && !this.warnedEmpty) {
          this.warnedEmpty = true;
          this.log(`virtio-rng: request ${chain.head} has no writable buffer; returned empty`);
        }
        a.queue.addUsed(a.mem, chain.head, written);
        used++;
      }
    } finally {
      if (used > 0) a.interrupt.signalUsedQueue(0);
    }
  }
}
