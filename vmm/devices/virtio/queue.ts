// Split virtqueues: validated, copied descriptor chains popped from the avail ring, used elements pushed back.
import type { GuestMemory } from '../../memory/guest-memory.js';
import {
  VIRTQ_AVAIL_ALIGN, VIRTQ_AVAIL_ELEM_SIZE, VIRTQ_AVAIL_RING_OFFSET, VIRTQ_DESC_ALIGN, VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_SIZE, VIRTQ_MAX_SIZE, VIRTQ_RING_IDX_OFFSET, VIRTQ_USED_ALIGN,
  VIRTQ_USED_ELEM_SIZE, VIRTQ_USED_RING_OFFSET,
} from './constants.js';

/** A malformed ring or chain from the guest: loop, buffer outside RAM, chain too long, bad index. */
export class QueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueError';
  }
}

export interface ChainDescriptor {
  /** guest-physical address; [addr, addr+len) was checked to lie inside one guest RAM region */
  readonly addr: number;
  readonly len: number;
  /** device-writable (VIRTQ_DESC_F_WRITE) */
  readonly writable: boolean;
}

/** A validated copy of one guest chain: the guest can rewrite its descriptor table, this stays as it was read. */
export class DescriptorChain {
  constructor(
    /** head descriptor index, to pass to Queue.addUsed */
    readonly head: number,
    /** in chain order, an indirect table flattened in place of its descriptor */
    readonly descriptors: readonly ChainDescriptor[],
  ) {}
}

const U16_MASK = 0xffff;

function descTableBytes(size: number): number { return VIRTQ_DESC_SIZE * size; }
function availRingBytes(size: number): number { return VIRTQ_AVAIL_RING_OFFSET + VIRTQ_AVAIL_ELEM_SIZE * size + 2; }
function usedRingBytes(size: number): number { return VIRTQ_USED_RING_OFFSET + VIRTQ_USED_ELEM_SIZE * size + 2; }
const hex = (n: number): string => `0x${n.toString(16)}`;

/** One raw descriptor, read once from guest memory. */
interface RawDescriptor { addr: number; len: number; flags: number; next: number }

/**
 * A split virtqueue. The transport sets size/ready/addresses from the driver's writes and checks
 * isValid() before activating; the device then pops chains and adds used elements. Every value read
 * from the rings is treated as hostile; any inconsistency is a QueueError.
 */
export class Queue {
  size: number;
  ready = false;
  descTable = 0;
  availRing = 0;
  usedRing = 0;
  /** VIRTIO_RING_F_INDIRECT_DESC was negotiated (the transport sets this on activation) */
  indirectEnabled = false;

  /** next avail ring slot to read (free-running u16) */
  private nextAvail = 0;
  /** next used ring slot to write (free-running u16) */
  private nextUsed = 0;
  /** undoPop() is allowed only right after a successful pop() */
  private canUndo = false;

  constructor(readonly maxSize: number) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > VIRTQ_MAX_SIZE || (maxSize & (maxSize - 1)) !== 0) {
      throw new QueueError(`queue max size ${maxSize} is not a power of two in 1..${VIRTQ_MAX_SIZE}`);
    }
    this.size = maxSize;
  }

  /** Size is a power of two <= maxSize and the three areas are aligned and wholly inside guest RAM. */
  isValid(mem: GuestMemory): boolean {
    return this.invalidReason(mem) === null;
  }

  /** Why isValid() is false (for the transport's log line), or null. */
  invalidReason(mem: GuestMemory): string | null {
    const s = this.size;
    if (!Number.isInteger(s) || s < 1 || s > this.maxSize || (s & (s - 1)) !== 0) {
      return `queue size ${s} is not a power of two in 1..${this.maxSize}`;
    }
    const areas: [string, number, number, number][] = [
      ['descriptor table', this.descTable, descTableBytes(s), VIRTQ_DESC_ALIGN],
      ['avail ring', this.availRing, availRingBytes(s), VIRTQ_AVAIL_ALIGN],
      ['used ring', this.usedRing, usedRingBytes(s), VIRTQ_USED_ALIGN],
    ];
    for (const [name, addr, len, align] of areas) {
      if (addr % align !== 0) return `${name} at ${hex(addr)} is not ${align}-byte aligned`;
      if (!mem.isValidRange(addr, len)) return `${name} at ${hex(addr)} + ${len} is outside guest RAM`;
    }
    return null;
  }

  /** Entries the driver has made available and we have not popped yet; QueueError when the guest's idx is impossible. */
  private pending(mem: GuestMemory): number {
    const availIdx = this.read(() => mem.readU16(this.availRing + VIRTQ_RING_IDX_OFFSET), 'avail idx');
    const pending = (availIdx - this.nextAvail) & U16_MASK;
    if (pending > this.size) {
      throw new QueueError(`avail idx ${availIdx} is ${pending} entries ahead of ${this.nextAvail}, more than queue size ${this.size}`);
    }
    return pending;
  }

  /** The next available chain, or null when there is none. Throws QueueError on a malformed one (it is consumed). */
  pop(mem: GuestMemory): DescriptorChain | null {
    this.canUndo = false;
    if (this.pending(mem) === 0) return null;
    const slot = this.availRing + VIRTQ_AVAIL_RING_OFFSET + VIRTQ_AVAIL_ELEM_SIZE * (this.nextAvail % this.size);
    const head = this.read(() => mem.readU16(slot), 'avail ring entry');
    this.nextAvail = (this.nextAvail + 1) & U16_MASK;
    if (head >= this.size) throw new QueueError(`avail ring names descriptor ${head}, queue size is ${this.size}`);
    const chain = new DescriptorChain(head, this.walk(mem, head));
    this.canUndo = true;
    return chain;
  }

  /** Puts back the chain the last pop() returned, so the next pop() returns it again. */
  undoPop(): void {
    if (!this.canUndo) throw new QueueError('undoPop() without a preceding successful pop()');
    this.nextAvail = (this.nextAvail - 1) & U16_MASK;
    this.canUndo = false;
  }

  /** Writes the used element, then publishes it by advancing used idx (in that order: the guest reads idx first). */
  addUsed(mem: GuestMemory, head: number, len: number): void {
    if (!Number.isInteger(head) || head < 0 || head >= this.size) throw new QueueError(`addUsed: descriptor ${head} out of range (size ${this.size})`);
    if (!Number.isInteger(len) || len < 0 || len > 0xffffffff) throw new QueueError(`addUsed: used length ${len} invalid`);
    const elem = this.usedRing + VIRTQ_USED_RING_OFFSET + VIRTQ_USED_ELEM_SIZE * (this.nextUsed % this.size);
    this.read(() => {
      mem.writeU32(elem, head);
      mem.writeU32(elem + 4, len);
    }, 'used ring element');
    this.nextUsed = (this.nextUsed + 1) & U16_MASK;
    this.read(() => mem.writeU16(this.usedRing + VIRTQ_RING_IDX_OFFSET, this.nextUsed), 'used idx');
    this.canUndo = false;
  }

  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descTable = 0;
    this.availRing = 0;
    this.usedRing = 0;
    this.indirectEnabled = false;
    this.nextAvail = 0;
    this.nextUsed = 0;
    this.canUndo = false;
  }

  /** Follows the chain from `head`, copying each descriptor once; at most `size` direct and `size` indirect ones. */
  private walk(mem: GuestMemory, head: number): ChainDescriptor[] {
    const out: ChainDescriptor[] = [];
    let index = head;
    for (let count = 1; ; count++) {
      if (count > this.size) throw new QueueError(`descriptor chain from ${head} is longer than queue size ${this.size} (loop?)`);
      const d = this.readDescriptor(mem, this.descTable, index, 'descriptor');
      if (d.flags & VIRTQ_DESC_F_INDIRECT) {
        if (d.flags & VIRTQ_DESC_F_NEXT) throw new QueueError(`descriptor ${index} has both INDIRECT and NEXT`);
        this.walkIndirect(mem, d, index, out);
        return out;
      }
      out.push(this.checkedBuffer(mem, d, `descriptor ${index}`));
      if (!(d.flags & VIRTQ_DESC_F_NEXT)) return out;
      if (d.next >= this.size) throw new QueueError(`descriptor ${index} points to next ${d.next}, queue size is ${this.size}`);
      index = d.next;
    }
  }

  /** Flattens one indirect table into `out`; the table may not hold another indirect descriptor. */
  private walkIndirect(mem: GuestMemory, d: RawDescriptor, at: number, out: ChainDescriptor[]): void {
    if (!this.indirectEnabled) throw new QueueError(`descriptor ${at} is INDIRECT but VIRTIO_RING_F_INDIRECT_DESC was not negotiated`);
    if (d.len === 0 || d.len % VIRTQ_DESC_SIZE !== 0) throw new QueueError(`indirect table at descriptor ${at} has length ${d.len}, not a non-zero multiple of ${VIRTQ_DESC_SIZE}`);
    const entries = d.len / VIRTQ_DESC_SIZE;
    if (entries > this.size) throw new QueueError(`indirect table at descriptor ${at} has ${entries} entries, more than queue size ${this.size}`);
    if (!mem.isValidRange(d.addr, d.len)) throw new QueueError(`indirect table at ${hex(d.addr)} + ${d.len} is outside guest RAM`);
    let index = 0;
    for (let count = 1; ; count++) {
      if (count > entries) throw new QueueError(`indirect chain at descriptor ${at} is longer than its table (${entries}, loop?)`);
      const e = this.readDescriptor(mem, d.addr, index, 'indirect descriptor');
      if (e.flags & VIRTQ_DESC_F_INDIRECT) throw new QueueError(`indirect descriptor ${index} (table at descriptor ${at}) is itself INDIRECT`);
      out.push(this.checkedBuffer(mem, e, `indirect descriptor ${index}`));
      if (!(e.flags & VIRTQ_DESC_F_NEXT)) return;
      if (e.next >= entries) throw new QueueError(`indirect descriptor ${index} points to next ${e.next}, table has ${entries}`);
      index = e.next;
    }
  }

  private readDescriptor(mem: GuestMemory, table: number, index: number, what: string): RawDescriptor {
    const at = table + VIRTQ_DESC_SIZE * index;
    return this.read(() => {
      const addr = mem.readU64(at);
      if (addr > BigInt(Number.MAX_SAFE_INTEGER)) throw new QueueError(`${what} ${index} has address 0x${addr.toString(16)} beyond any guest RAM`);
      return { addr: Number(addr), len: mem.readU32(at + 8), flags: mem.readU16(at + 12), next: mem.readU16(at + 14) };
    }, what);
  }

  private checkedBuffer(mem: GuestMemory, d: RawDescriptor, what: string): ChainDescriptor {
    if (!mem.isValidRange(d.addr, d.len)) throw new QueueError(`${what}: buffer ${hex(d.addr)} + ${d.len} is outside guest RAM`);
    return { addr: d.addr, len: d.len, writable: (d.flags & VIRTQ_DESC_F_WRITE) !== 0 };
  }

  /** Runs a ring access; a guest memory fault (rings moved out of RAM) becomes a QueueError naming what was read. */
  private read<T>(fn: () => T, what: string): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof QueueError) throw e;
      throw new QueueError(`${what}: ${(e as Error).message}`);
    }
  }
}
