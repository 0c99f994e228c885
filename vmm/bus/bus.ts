// A bus (PIO ports or MMIO addresses): non-overlapping ranges mapped to devices, found by binary search.
import type { BusDevice } from './bus-device.js';

export class BusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusError';
  }
}

/** One mapped range. `base` and `len` are in the bus's address space (ports or guest-physical). */
export interface BusEntry {
  readonly base: number;
  readonly len: number;
  readonly name: string;
  readonly device: BusDevice;
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const describe = (e: BusEntry): string => `${e.name} [${hex(e.base)}, ${hex(e.base + e.len)})`;

/**
 * Maps address ranges to devices. Used for both the PIO bus (16-bit port numbers) and the MMIO bus
 * (guest-physical addresses). An access is delivered only when it lies wholly inside one range:
 * one that straddles a range's end (or starts in a hole) reaches no device, and read()/write()
 * return false so the caller can do what real hardware does (PIO reads float to all-ones, writes
 * are dropped).
 */
export class Bus {
  /** sorted by base; ranges never overlap */
  private readonly ranges: BusEntry[] = [];

  constructor(readonly busName = 'bus') {}

  /** Maps `device` at [base, base + len). Throws BusError on an empty, invalid or overlapping range. */
  insert(device: BusDevice, base: number, len: number, name: string): void {
    if (!Number.isSafeInteger(base) || base < 0) throw new BusError(`${this.busName}: invalid base ${base} for ${name}`);
    if (!Number.isSafeInteger(len) || len <= 0) throw new BusError(`${this.busName}: empty or invalid length ${len} for ${name} at ${hex(base)}`);
    if (!Number.isSafeInteger(base + len)) throw new BusError(`${this.busName}: range of ${name} at ${hex(base)} overflows`);
    const entry: BusEntry = { base, len, name, device };
    const i = this.upperBound(base);
    // Only the neighbours can overlap: the range starting at or before `base`, and the one after it.
    const before = i > 0 ? this.ranges[i - 1] : undefined;
    const after = this.ranges[i];
    for (const other of [before, after]) {
      if (other !== undefined && base < other.base + other.len && other.base < base + len) {
        throw new BusError(`${this.busName}: ${describe(entry)} overlaps ${describe(other)}`);
      }
    }
    this.ranges.splice(i, 0, entry);
  }

  /** The entry whose range holds all of [addr, addr + size), or undefined. */
  find(addr: number, size = 1): BusEntry | undefined {
    const i = this.upperBound(addr) - 1;
    if (i < 0) return undefined;
    const e = this.ranges[i]!;
    const offset = addr - e.base;
    return offset + size <= e.len ? e : undefined;
  }

  /** Reads `data.length` bytes at `addr` into `data`. Returns false (data untouched) when no device holds the access. */
  read(addr: number, data: Uint8Array): boolean {
    const e = this.find(addr, data.length);
    if (e === undefined) return false;
    e.device.read(addr - e.base, data);
    return true;
  }

  /** Writes `data` at `addr`. Returns false when no device holds the access. */
  write(addr: number, data: Uint8Array): boolean {
    const e = this.find(addr, data.length);
    if (e === undefined) return false;
    e.device.write(addr - e.base, data);
    return true;
  }

  /** The mapped ranges in address order (for describe and logs). */
  entries(): readonly BusEntry[] {
    return [...this.ranges];
  }

  /** Index of the first range whose base is greater than `addr`. */
  private upperBound(addr: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid]!.base <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
