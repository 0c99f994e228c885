// The vsock header codec: exact wire layout, round trips, and rejection of every malformed header.
import t from 'tap';
import {
  VSOCK_HDR_SIZE, VSOCK_MAX_PAYLOAD, VSOCK_OP_REQUEST, VSOCK_OP_RW, VSOCK_OP_SHUTDOWN, VSOCK_TYPE_STREAM,
  VsockPacketError, decodePacket, encodeHeader, encodePacket, type VsockHeader,
} from '../../vmm/devices/virtio/vsock/packet.js';

const base: VsockHeader = {
  srcCid: 3n, dstCid: 2n, srcPort: 0x11223344, dstPort: 1234, len: 0, type: VSOCK_TYPE_STREAM,
  op: VSOCK_OP_REQUEST, flags: 0, bufAlloc: 256 * 1024, fwdCnt: 0xdeadbeef,
};

t.test('header layout is the packed little-endian one Linux uses', async (t) => {
  const b = encodeHeader({ ...base, flags: 3 });
  t.equal(b.length, 44);
  t.equal(VSOCK_HDR_SIZE, 44);
  const v = new DataView(b.buffer);
  t.equal(v.getBigUint64(0, true), 3n, 'src_cid at 0');
  t.equal(v.getBigUint64(8, true), 2n, 'dst_cid at 8');
  t.equal(v.getUint32(16, true), 0x11223344, 'src_port at 16');
  t.equal(v.getUint32(20, true), 1234, 'dst_port at 20');
  t.equal(v.getUint32(24, true), 0, 'len at 24');
  t.equal(v.getUint16(28, true), 1, 'type at 28');
  t.equal(v.getUint16(30, true), 1, 'op at 30');
  t.equal(v.getUint32(32, true), 3, 'flags at 32');
  t.equal(v.getUint32(36, true), 256 * 1024, 'buf_alloc at 36');
  t.equal(v.getUint32(40, true), 0xdeadbeef, 'fwd_cnt at 40');
});

t.test('RW round trip keeps the payload; bytes past len are ignored', async (t) => {
  const payload = new Uint8Array([1, 2, 3, 4, 5]);
  const wire = encodePacket({ ...base, op: VSOCK_OP_RW, len: 5 }, payload);
  const padded = new Uint8Array(wire.length + 7);
  padded.set(wire);
  const pkt = decodePacket(padded);
  t.same(pkt.hdr, { ...base, op: VSOCK_OP_RW, len: 5 });
  t.same([...pkt.payload], [1, 2, 3, 4, 5]);
});

t.test('malformed headers are rejected with a VsockPacketError', async (t) => {
  const bad = (h: Partial<VsockHeader>, extra = 0): Uint8Array => {
    const full = { ...base, ...h };
    const out = new Uint8Array(44 + extra);
    encodeHeader(full, out);
    return out;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated header', new Uint8Array(43), /truncated header \(43 of 44/],
    ['empty', new Uint8Array(0), /truncated/],
    ['seqpacket type', bad({ type: 2 }), /unsupported socket type 2/],
    ['type 0', bad({ type: 0 }), /unsupported socket type 0/],
    ['op 0', bad({ op: 0 }), /unknown op 0/],
    ['op 8', bad({ op: 8 }), /unknown op 8/],
    ['len over max', bad({ op: VSOCK_OP_RW, len: VSOCK_MAX_PAYLOAD + 1 }, VSOCK_MAX_PAYLOAD + 1), /exceeds the 65536-byte maximum/],
    ['len beyond data', bad({ op: VSOCK_OP_RW, len: 100 }, 99), /exceeds the 99 payload bytes present/],
    ['len 0xffffffff', bad({ op: VSOCK_OP_RW, len: 0xffffffff }), /exceeds/],
    ['payload on SHUTDOWN', bad({ op: VSOCK_OP_SHUTDOWN, len: 4 }, 4), /payload on a non-RW packet/],
  ];
  for (const [name, bytes, re] of cases) {
    t.throws(() => decodePacket(bytes), re, name);
    try { decodePacket(bytes); } catch (e) {
      t.ok(e instanceof VsockPacketError, `${name}: VsockPacketError`);
      if (bytes.length >= 44) t.ok((e as VsockPacketError).hdr, `${name}: header kept for the RST`);
    }
  }
});

t.test('max payload is accepted; encode refuses bad fields', async (t) => {
  const payload = new Uint8Array(VSOCK_MAX_PAYLOAD).fill(7);
  const pkt = decodePacket(encodePacket({ ...base, op: VSOCK_OP_RW, len: payload.length }, payload));
  t.equal(pkt.payload.length, VSOCK_MAX_PAYLOAD);
  t.throws(() => encodePacket({ ...base, op: VSOCK_OP_RW, len: 3 }, new Uint8Array(2)), RangeError);
  t.throws(() => encodeHeader({ ...base, srcPort: -1 }), RangeError);
  t.throws(() => encodeHeader({ ...base, fwdCnt: 2 ** 32 }), RangeError);
  t.throws(() => encodeHeader({ ...base, op: 0x10000 }), RangeError);
});
