// Guest RAM: a set of regions mapped from one memfd, reachable only through bounds-checked accessors.
import { native } from '../../kvm-native/index.js';

/** A guest-physical address. Branded so a host offset or a length cannot be passed by mistake. */
export type GuestAddress = number & { readonly __brand: 'GuestAddress' };
export const GuestAddress = (n: number): GuestAddress => {
  if (!Number.isSafeInteger(n) || n < 0) throw new GuestMemoryError(`invalid guest address ${n}`);
  return n as GuestAddress;
};

export class GuestMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestMemoryError';
  }
}

export interface RegionSpec {
  /** guest-physical start */
  readonly start: GuestAddress;
  /** length in bytes */
  readonly size: number;
}

export interface GuestRegion extends RegionSpec {
  /** offset of this region inside the backing memfd */
  readonly fileOffset: number;
  /** the host mapping (external ArrayBuffer from mmap) */
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x01;
const MFD_CLOEXEC = 0x1;

/**
 * Guest memory. Every access names a guest address and a length; an access that is not wholly
 * inside one region throws GuestMemoryError, so no guest-supplied value can reach host memory
 * outside guest RAM.
 */
export class GuestMemory {
  readonly regions: readonly GuestRegion[];
  /** memfd backing all regions (shared with worker threads, which map it themselves), or -1 */
  readonly fd: number;

  constructor(regions: readonly GuestRegion[], fd = -1) {
    const sorted = [...regions].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      if (prev.start + prev.size > sorted[i]!.start) throw new GuestMemoryError('guest memory regions overlap');
    }
    this.regions = sorted;
    this.fd = fd;
  }

  /** Allocates memfd-backed memory for the given regions (each mapped separately). */
  static create(specs: readonly RegionSpec[], name = 'kqubes-guest-ram'): GuestMemory {
    const total = specs.reduce((n, s) => n + s.size, 0);
    const fd = native.memfdCreate(name, MFD_CLOEXEC);
    native.ftruncate(fd, BigInt(total));
    return GuestMemory.mapFile(fd, specs);
  }

  /** Maps an existing memfd laid out as `specs` (regions back to back in the file). Used by workers. */
  static mapFile(fd: number, specs: readonly RegionSpec[]): GuestMemory {
    let fileOffset = 0;
    const regions = specs.map((s) => {
      const buffer = native.mmap(s.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, BigInt(fileOffset));
      const r: GuestRegion = { start: s.start, size: s.size, fileOffset, buffer, bytes: new Uint8Array(buffer), view: new DataView(buffer) };
      fileOffset += s.size;
      return r;
    });
    return new GuestMemory(regions, fd);
  }

  /** Plain (non-KVM) memory for unit tests: regions backed by ordinary ArrayBuffers. */
  static forTest(specs: readonly RegionSpec[]): GuestMemory {
    let fileOffset = 0;
    const regions = specs.map((s) => {
      const buffer = new ArrayBuffer(s.size);
      const r: GuestRegion = { start: s.start, size: s.size, fileOffset, buffer, bytes: new Uint8Array(buffer), view: new DataView(buffer) };
      fileOffset += s.size;
      return r;
    });
    return new GuestMemory(regions);
  }

  get specs(): RegionSpec[] {
    return this.regions.map((r) => ({ start: r.start, size: r.size }));
  }

  get totalSize(): number {
    return this.regions.reduce((n, r) => n + r.size, 0);
  }

  /** The region holding [addr, addr+len), or undefined. len 0 is valid inside a region. */
  private find(addr: number, len: number): { region: GuestRegion; offset: number } | undefined {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) return undefined;
    for (const region of this.regions) {
      if (addr >= region.start && addr - region.start < region.size) {
        const offset = addr - region.start;
        if (len > region.size - offset) return undefined;
        return { region, offset };
      }
    }
    return undefined;
  }

  private locate(addr: number, len: number): { region: GuestRegion; offset: number } {
    const hit = this.find(addr, len);
    if (!hit) throw new GuestMemoryError(`guest access out of bounds: 0x${addr.toString(16)} + ${len}`);
    return hit;
  }

  /** True when [addr, addr+len) lies inside one region. */
  isValidRange(addr: number, len: number): boolean {
    return this.find(addr, len) !== undefined;
  }

  /** A view (no copy) of guest bytes [addr, addr+len). The guest can change them under you. */
  view(addr: number, len: number): Uint8Array {
    const { region, offset } = this.locate(addr, len);
    return region.bytes.subarray(offset, offset + len);
  }

  /** A private copy of guest bytes [addr, addr+len). */
  readCopy(addr: number, len: number): Uint8Array {
    return this.view(addr, len).slice();
  }

  write(addr: number, data: Uint8Array): void {
    this.view(addr, data.length).set(data);
  }

  fill(addr: number, len: number, value: number): void {
    this.view(addr, len).fill(value);
  }

  readU8(addr: number): number {
    const { region, offset } = this.locate(addr, 1);
    return region.view.getUint8(offset);
  }
  readU16(addr: number): number {
    const { region, offset } = this.locate(addr, 2);
    return region.view.getUint16(offset, true);
  }
  readU32(addr: number): number {
    const { region, offset } = this.locate(addr, 4);
    return region.view.getUint32(offset, true);
  }
  readU64(addr: number): bigint {
    const { region, offset } = this.locate(addr, 8);
    return region.view.getBigUint64(offset, true);
  }
  writeU8(addr: number, v: number): void {
    const { region, offset } = this.locate(addr, 1);
    region.view.setUint8(offset, v);
  }
  writeU16(addr: number, v: number): void {
    const { region, offset } = this.locate(addr, 2);
    region.view.setUint16(offset, v, true);
  }
  writeU32(addr: number, v: number): void {
    const { region, offset } = this.locate(addr, 4);
    region.view.setUint32(offset, v, true);
  }
  writeU64(addr: number, v: bigint): void {
    const { region, offset } = this.locate(addr, 8);
    region.view.setBigUint64(offset, v, true);
  }
}
