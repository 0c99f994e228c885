// Reading and writing the buffers of a validated descriptor chain, as byte streams or as guest-memory segments.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { QueueError, type DescriptorChain } from './queue.js';

/** A piece of guest memory [addr, addr+len), wholly inside one RAM region (a sub-range of a chain descriptor). */
export interface Segment { readonly addr: number; readonly len: number }

/** The chain's device-readable (writable=false) or device-writable (writable=true) buffers, in order. */
export function chainSegments(chain: DescriptorChain, writable: boolean): Segment[] {
  return chain.descriptors.filter((d) => d.writable === writable && d.len > 0).map((d) => ({ addr: d.addr, len: d.len }));
}

export function segmentsLength(segments: readonly Segment[]): number {
  return segments.reduce((n, s) => n + s.len, 0);
}

/** The sub-range [start, start+len) of a segment list seen as one byte stream (clamped to its end). */
export function sliceSegments(segments: readonly Segment[], start: number, len: number): Segment[] {
  const out: Segment[] = [];
  let skip = start;
  let want = len;
  for (const s of segments) {
    if (want <= 0) break;
    if (skip >= s.len) { skip -= s.len; continue; }
    const take = Math.min(s.len - skip, want);
    out.push({ addr: s.addr + skip, len: take });
    want -= take;
    skip = 0;
  }
  return out;
}

/** Concatenation of the chain's device-readable buffers; QueueError if their total exceeds maxBytes. */
export function readChain(mem: GuestMemory, chain: DescriptorChain, maxBytes: number): Uint8Array {
  const segments = chainSegments(chain, false);
  const total = segmentsLength(segments);
  if (total > maxBytes) throw new QueueError(`chain ${chain.head}: ${total} readable bytes exceed the limit of ${maxBytes}`);
  return readSegments(mem, segments, total);
}

/** Copies the first `len` bytes of a segment list out of guest memory. */
export function readSegments(mem: GuestMemory, segments: readonly Segment[], len: number): Uint8Array {
  const out = new Uint8Array(Math.min(len, segmentsLength(segments)));
  let at = 0;
  for (const s of sliceSegments(segments, 0, out.length)) {
    out.set(mem.view(s.addr, s.len), at);
    at += s.len;
  }
  return out;
}

/** Total length of the chain's device-writable buffers. */
export function writableLength(chain: DescriptorChain): number {
  return chain.descriptors.reduce((n, d) => (d.writable ? n + d.len : n), 0);
}

/** Copies data into the chain's device-writable buffers in order; returns bytes written (stops when they are full). */
export function writeChain(mem: GuestMemory, chain: DescriptorChain, data: Uint8Array): number {
  return writeSegments(mem, chainSegments(chain, true), data);
}

/** Copies data into a segment list in order; returns bytes written. */
export function writeSegments(mem: GuestMemory, segments: readonly Segment[], data: Uint8Array): number {
  let at = 0;
  for (const s of segments) {
    if (at >= data.length) break;
    const take = Math.min(s.len, data.length - at);
    mem.view(s.addr, take).set(data.subarray(at, at + take));
    at += take;
  }
  return at;
}
