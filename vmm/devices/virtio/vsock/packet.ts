// The virtio-vsock packet header: constants, the 44-byte little-endian codec and its validation.

/** The host's CID (well known); the guest's CID comes from the device config. */
export const VSOCK_HOST_CID = 2n;
/** Reserved CIDs below 3 (hypervisor, local, host) and the "any" CID 0xffffffff are never a guest's. */
export const VSOCK_MIN_GUEST_CID = 3;
export const VSOCK_MAX_GUEST_CID = 0xfffffffe;

/** Size of the packed header: u64 src_cid, u64 dst_cid, u32 src_port, u32 dst_port, u32 len, u16 type,
 * u16 op, u32 flags, u32 buf_alloc, u32 fwd_cnt. */
export const VSOCK_HDR_SIZE = 44;
/** Largest payload one packet may carry (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
export const VSOCK_MAX_PAYLOAD = 64 * 1024;

export const HDR_OFF_SRC_CID = 0;
export const HDR_OFF_DST_CID = 8;
export const HDR_OFF_SRC_PORT = 16;
export const HDR_OFF_DST_PORT = 20;
export const HDR_OFF_LEN = 24;
export const HDR_OFF_TYPE = 28;
export const HDR_OFF_OP = 30;
export const HDR_OFF_FLAGS = 32;
export const HDR_OFF_BUF_ALLOC = 36;
export const HDR_OFF_FWD_CNT = 40;

/** Socket types: only stream is supported (no VIRTIO_VSOCK_F_SEQPACKET offered). */
export const VSOCK_TYPE_STREAM = 1;

export const VSOCK_OP_REQUEST = 1;
export const VSOCK_OP_RESPONSE = 2;
export const VSOCK_OP_RST = 3;
export const VSOCK_OP_SHUTDOWN = 4;
export const VSOCK_OP_RW = 5;
export const VSOCK_OP_CREDIT_UPDATE = 6;
export const VSOCK_OP_CREDIT_REQUEST = 7;

export const VSOCK_OP_NAMES: Readonly<Record<number, string>> = {
  [VSOCK_OP_REQUEST]: 'REQUEST',
  [VSOCK_OP_RESPONSE]: 'RESPONSE',
  [VSOCK_OP_RST]: 'RST',
  [VSOCK_OP_SHUTDOWN]: 'SHUTDOWN',
  [VSOCK_OP_RW]: 'RW',
  [VSOCK_OP_CREDIT_UPDATE]: 'CREDIT_UPDATE',
  [VSOCK_OP_CREDIT_REQUEST]: 'CREDIT_REQUEST',
};

/** SHUTDOWN flags, from the sender's point of view. */
export const VSOCK_SHUTDOWN_RCV = 1; // the sender will receive no more
export const VSOCK_SHUTDOWN_SEND = 2; // the sender will send no more
export const VSOCK_SHUTDOWN_MASK = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;

const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

/** A decoded header. CIDs are u64 on the wire and kept as bigint so no value is rounded. */
export interface VsockHeader {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

/** A header plus its payload (empty unless op is RW). */
export interface VsockPacket {
  readonly hdr: VsockHeader;
  readonly payload: Uint8Array;
}

export class VsockPacketError extends Error {
  /** the header, when 44 bytes could be read (lets the caller answer with RST) */
  readonly hdr: VsockHeader | undefined;
  constructor(message: string, hdr?: VsockHeader) {
    super(`vsock packet: ${message}`);
    this.name = 'VsockPacketError';
    this.hdr = hdr;
  }
}

/** Reads the 44 header bytes with no validation (the caller must have checked the length). */
export function readHeader(bytes: Uint8Array): VsockHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, VSOCK_HDR_SIZE);
  return {
    srcCid: v.getBigUint64(HDR_OFF_SRC_CID, true),
    dstCid: v.getBigUint64(HDR_OFF_DST_CID, true),
    srcPort: v.getUint32(HDR_OFF_SRC_PORT, true),
    dstPort: v.getUint32(HDR_OFF_DST_PORT, true),
    len: v.getUint32(HDR_OFF_LEN, true),
    type: v.getUint16(HDR_OFF_TYPE, true),
    op: v.getUint16(HDR_OFF_OP, true),
    flags: v.getUint32(HDR_OFF_FLAGS, true),
    bufAlloc: v.getUint32(HDR_OFF_BUF_ALLOC, true),
    fwdCnt: v.getUint32(HDR_OFF_FWD_CNT, true),
  };
}

export function describeHeader(h: VsockHeader): string {
  const op = VSOCK_OP_NAMES[h.op] ?? `op#${h.op}`;
  return `${op} ${h.srcCid}:${h.srcPort} -> ${h.dstCid}:${h.dstPort} len=${h.len} type=${h.type} flags=${h.flags}`;
}

/**
 * Decodes one packet from the bytes the guest put in a tx chain. Throws VsockPacketError when the
 * header is short, the type is not stream, the op is unknown, len exceeds VSOCK_MAX_PAYLOAD or the
 * bytes present, or a non-RW packet carries a payload. Bytes beyond 44 + len are ignored. The payload
 * is a view into `bytes` (which the caller already owns as a private copy).
 */
export function decodePacket(bytes: Uint8Array): VsockPacket {
  if (bytes.length < VSOCK_HDR_SIZE) throw new VsockPacketError(`truncated header (${bytes.length} of ${VSOCK_HDR_SIZE} bytes)`);
  const hdr = readHeader(bytes);
  if (hdr.type !== VSOCK_TYPE_STREAM) throw new VsockPacketError(`unsupported socket type ${hdr.type} (${describeHeader(hdr)})`, hdr);
  if (VSOCK_OP_NAMES[hdr.op] === undefined) throw new VsockPacketError(`unknown op ${hdr.op} (${describeHeader(hdr)})`, hdr);
  if (hdr.len > VSOCK_MAX_PAYLOAD) throw new VsockPacketError(`len ${hdr.len} exceeds the ${VSOCK_MAX_PAYLOAD}-byte maximum (${describeHeader(hdr)})`, hdr);
  if (hdr.len > bytes.length - VSOCK_HDR_SIZE) {
    throw new VsockPacketError(`len ${hdr.len} exceeds the ${bytes.length - VSOCK_HDR_SIZE} payload bytes present (${describeHeader(hdr)})`, hdr);
  }
  if (hdr.op !== VSOCK_OP_RW && hdr.len !== 0) throw new VsockPacketError(`payload on a non-RW packet (${describeHeader(hdr)})`, hdr);
  return { hdr, payload: bytes.subarray(VSOCK_HDR_SIZE, VSOCK_HDR_SIZE + hdr.len) };
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > U32_MAX) throw new RangeError(`vsock header: ${name} ${v} is not a u32`);
}

/** Writes `hdr` into the first 44 bytes of `out`. Throws RangeError on a field out of range (a host bug). */
export function encodeHeader(hdr: VsockHeader, out: Uint8Array = new Uint8Array(VSOCK_HDR_SIZE)): Uint8Array {
  if (out.length < VSOCK_HDR_SIZE) throw new RangeError(`vsock header: buffer of ${out.length} bytes is too short`);
  for (const [name, v] of [['srcPort', hdr.srcPort], ['dstPort', hdr.dstPort], ['len', hdr.len], ['flags', hdr.flags],
    ['bufAlloc', hdr.bufAlloc], ['fwdCnt', hdr.fwdCnt]] as const) checkU32(name, v);
  if (!Number.isInteger(hdr.type) || hdr.type < 0 || hdr.type > U16_MAX) throw new RangeError(`vsock header: type ${hdr.type} is not a u16`);
  if (!Number.isInteger(hdr.op) || hdr.op < 0 || hdr.op > U16_MAX) throw new RangeError(`vsock header: op ${hdr.op} is not a u16`);
  const v = new DataView(out.buffer, out.byteOffset, VSOCK_HDR_SIZE);
  v.setBigUint64(HDR_OFF_SRC_CID, BigInt.asUintN(64, hdr.srcCid), true);
  v.setBigUint64(HDR_OFF_DST_CID, BigInt.asUintN(64, hdr.dstCid), true);
  v.setUint32(HDR_OFF_SRC_PORT, hdr.srcPort, true);
  v.setUint32(HDR_OFF_DST_PORT, hdr.dstPort, true);
  v.setUint32(HDR_OFF_LEN, hdr.len, true);
  v.setUint16(HDR_OFF_TYPE, hdr.type, true);
  v.setUint16(HDR_OFF_OP, hdr.op, true);
  v.setUint32(HDR_OFF_FLAGS, hdr.flags, true);
  v.setUint32(HDR_OFF_BUF_ALLOC, hdr.bufAlloc, true);
  v.setUint32(HDR_OFF_FWD_CNT, hdr.fwdCnt, true);
  return out;
}

/** Header followed by payload in one buffer (what goes into an rx chain). hdr.len must equal payload.length. */
export function encodePacket(hdr: VsockHeader, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (hdr.len !== payload.length) throw new RangeError(`vsock packet: len ${hdr.len} but ${payload.length} payload bytes`);
  if (payload.length > VSOCK_MAX_PAYLOAD) throw new RangeError(`vsock packet: payload of ${payload.length} bytes exceeds ${VSOCK_MAX_PAYLOAD}`);
  const out = new Uint8Array(VSOCK_HDR_SIZE + payload.length);
  encodeHeader(hdr, out);
  out.set(payload, VSOCK_HDR_SIZE);
  return out;
}
