// One virtio-blk request: parse a chain as header / data / status bytes and run it against the image file, zero-copy.
import fs from 'node:fs';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { chainSegments, readSegments, segmentsLength, sliceSegments, writeSegments, type Segment } from '../chain-io.js';
import type { DescriptorChain } from '../queue.js';
import {
  BLK_HEADER_SECTOR_OFFSET, BLK_HEADER_SIZE, BLK_HEADER_TYPE_OFFSET, BLK_MAX_DATA_BYTES, SECTOR_SIZE,
  VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from './protocol.js';

/** The backing image as a request sees it. */
export interface Disk {
  readonly fd: number;
  readonly readOnly: boolean;
  /** capacity in 512-byte sectors */
  readonly sectors: number;
  /** GET_ID answer, exactly 20 bytes */
  readonly id: Uint8Array;
  /** fdatasync after each write (the driver did not negotiate FLUSH, so the device must be write-through) */
  readonly writeThrough: boolean;
}

/** Executes one request; returns the used length (bytes written to the guest, status byte included). */
export function executeRequest(mem: GuestMemory, chain: DescriptorChain, disk: Disk, log: (line: string) => void): number {
  // No framing is assumed (VERSION_1 implies ANY_LAYOUT): readable bytes are header then data,
  // writable bytes are data then the status byte.
  const readable = chainSegments(chain, false);
  const writable = chainSegments(chain, true);
  const rlen = segmentsLength(readable);
  const wlen = segmentsLength(writable);
  if (wlen === 0) {
    log(`request ${chain.head} has no writable status byte; dropped`);
    return 0;
  }
  const status = sliceSegments(writable, wlen - 1, 1)[0]!;
  const finish = (code: number, dataWritten: number): number => {
    mem.writeU8(status.addr, code);
    return dataWritten + 1;
  };
  if (rlen < BLK_HEADER_SIZE) {
    log(`request ${chain.head}: header is ${rlen} bytes, need ${BLK_HEADER_SIZE}`);
    return finish(VIRTIO_BLK_S_IOERR, 0);
  }
  const header = new DataView(readSegments(mem, readable, BLK_HEADER_SIZE).buffer);
  const type = header.getUint32(BLK_HEADER_TYPE_OFFSET, true);
  const sector = header.getBigUint64(BLK_HEADER_SECTOR_OFFSET, true);
  const inData = sliceSegments(writable, 0, wlen - 1);
  const outData = sliceSegments(readable, BLK_HEADER_SIZE, rlen - BLK_HEADER_SIZE);

  try {
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        const pos = checkRange(disk, sector, wlen - 1, log);
        if (pos === null) return finish(VIRTIO_BLK_S_IOERR, 0);
        const n = transfer(mem, disk, inData, pos, 'read');
        return finish(VIRTIO_BLK_S_OK, n);
      }
      case VIRTIO_BLK_T_OUT: {
        if (disk.readOnly) {
          log(`write at sector ${sector} refused: the image is read-only`);
          return finish(VIRTIO_BLK_S_IOERR, 0);
        }
        const pos = checkRange(disk, sector, rlen - BLK_HEADER_SIZE, log);
        if (pos === null) return finish(VIRTIO_BLK_S_IOERR, 0);
        transfer(mem, disk, outData, pos, 'write');
        if (disk.writeThrough) fs.fdatasyncSync(disk.fd);
        return finish(VIRTIO_BLK_S_OK, 0);
      }
      case VIRTIO_BLK_T_FLUSH:
        if (!disk.readOnly) fs.fdatasyncSync(disk.fd);
        return finish(VIRTIO_BLK_S_OK, 0);
      case VIRTIO_BLK_T_GET_ID: {
        const n = writeSegments(mem, inData, disk.id);
        return finish(VIRTIO_BLK_S_OK, n);
      }
      default:
        return finish(VIRTIO_BLK_S_UNSUPP, 0);
    }
  } catch (e) {
    log(`request type ${type} at sector ${sector} failed: ${(e as Error).message}`);
    return finish(VIRTIO_BLK_S_IOERR, 0);
  }
}

/** The byte position of a transfer of `len` bytes at `sector`, or null (logged) when it is malformed or out of range. */
function checkRange(disk: Disk, sector: bigint, len: number, log: (line: string) => void): number | null {
  if (len % SECTOR_SIZE !== 0 || len > BLK_MAX_DATA_BYTES) {
    log(`data length ${len} is not a multiple of ${SECTOR_SIZE} up to ${BLK_MAX_DATA_BYTES}`);
    return null;
  }
  if (sector + BigInt(len / SECTOR_SIZE) > BigInt(disk.sectors)) {
    log(`sector ${sector} + ${len / SECTOR_SIZE} is beyond capacity ${disk.sectors}`);
    return null;
  }
  return Number(sector) * SECTOR_SIZE;
}

/** Moves data between the file at `pos` and guest memory in place; a short read or write is an error. */
function transfer(mem: GuestMemory, disk: Disk, segments: readonly Segment[], pos: number, dir: 'read' | 'write'): number {
  let at = pos;
  for (const s of segments) {
    const view = mem.view(s.addr, s.len);
    let done = 0;
    while (done < s.len) {
      const n = dir === 'read'
        ? fs.readSync(disk.fd, view, done, s.len - done, at + done)
        : fs.writeSync(disk.fd, view, done, s.len - done, at + done);
      if (n <= 0) throw new Error(`short ${dir} at byte ${at + done} (image shrank?)`);
      done += n;
    }
    at += s.len;
  }
  return at - pos;
}
