// virtio-blk against real image files: config, read, write, flush, get-id, read-only, bounds, layouts, an ext4 image.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { VirtioMmioTransport } from '../../vmm/devices/virtio/mmio/transport.js';
import { VirtioBlock } from '../../vmm/devices/virtio/blk/device.js';
import {
  BLK_MAX_DATA_BYTES, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
} from '../../vmm/devices/virtio/blk/protocol.js';
import { VIRTIO_F_VERSION_1, VIRTIO_ID_BLOCK, VIRTIO_RING_F_INDIRECT_DESC } from '../../vmm/devices/virtio/constants.js';
import { MmioReg } from '../../vmm/devices/virtio/mmio/transport.js';
import { VirtioTestDriver, type ChainPart, type DriverQueue, type SubmittedChain } from '../helpers/virtio-driver.js';

const RAM = 0x40_0000;
const SECTORS = 2048; // 1 MiB image

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kqubes-blk-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An image whose byte i is (i * 7 + (i >> 9)) & 0xff, so every sector differs. */
function patternImage(name: string, bytes = SECTORS * 512): string {
  const p = path.join(dir, name);
  const buf = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) buf[i] = (i * 7 + (i >> 9)) & 0xff;
  fs.writeFileSync(p, buf);
  return p;
}

function setup(image: string, readOnly: boolean, id?: string, features?: bigint, ram = RAM) {
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: ram }]);
  const logs: string[] = [];
  const dev = new VirtioBlock({ path: image, readOnly, ...(id !== undefined ? { id } : {}) }, (l) => logs.push(l));
  t.teardown(() => dev.close());
  const transport = new VirtioMmioTransport(dev, mem, { trigger() {} }, (l) => logs.push(l));
  const drv = new VirtioTestDriver(transport, mem, { base: 0x1000, size: ram - 0x1000 });
  const [q] = drv.init(features !== undefined ? { features } : {});
  return { mem, dev, drv, q: q!, logs };
}

function header(type: number, sector: bigint | number): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

/** Submits one chain, kicks, and returns its used length and status byte (the last writable byte). */
function submit(q: DriverQueue, parts: ChainPart[], indirect = false): { chain: SubmittedChain; len: number; status: number } {
  const chain = indirect ? q.addIndirectChain(parts) : q.addChain(parts);
  q.kick();
  const used = q.takeUsed();
  if (used.length !== 1 || used[0]!.id !== chain.head) throw new Error(`expected one used entry for ${chain.head}, got ${JSON.stringify(used)}`);
  const last = [...chain.buffers].reverse().find((b) => b.writable);
  const status = last ? q.mem.readU8(last.addr + last.len - 1) : -1;
  return { chain, len: used[0]!.len, status };
}

function expected(image: string, sector: number, len: number): Uint8Array {
  const fd = fs.openSync(image, 'r');
  const out = Buffer.alloc(len);
  fs.readSync(fd, out, 0, len, sector * 512);
  fs.closeSync(fd);
  return new Uint8Array(out);
}

t.test('config space and features', async (t) => {
  const img = patternImage('cfg.img');
  const { drv, dev } = setup(img, false);
  t.equal(drv.readReg(MmioReg.DEVICE_ID), VIRTIO_ID_BLOCK);
  t.equal(drv.readConfigU64(0), BigInt(SECTORS), 'capacity in sectors');
  t.equal(drv.readConfig(12, 4), 254, 'seg_max');
  t.equal(drv.readConfig(20, 4), 512, 'blk_size');
  t.equal(drv.readConfig(200, 4), 0, 'beyond config reads zero');
  const f = drv.deviceFeatures();
  t.ok(f & VIRTIO_F_VERSION_1 && f & VIRTIO_BLK_F_FLUSH && f & VIRTIO_RING_F_INDIRECT_DESC);
  t.equal(f & VIRTIO_BLK_F_RO, 0n);
  t.equal(dev.sectors, SECTORS);
});

t.test('read, write, flush and get-id on a writable image', async (t) => {
  const img = patternImage('rw.img');
  const { q } = setup(img, false, 'kqubes-disk-0001');

  const r = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, 5) }, { writable: 1024 }, { writable: 1 }]);
  t.equal(r.status, VIRTIO_BLK_S_OK);
  t.equal(r.len, 1025, 'used len = data + status');
  t.same(q.readWritten(r.chain, 1024), expected(img, 5, 1024));

  const data = new Uint8Array(1536).map((_, i) => (i * 13) & 0xff);
  const w = submit(q, [{ readable: header(VIRTIO_BLK_T_OUT, 100) }, { readable: data.subarray(0, 512) }, { readable: data.subarray(512) }, { writable: 1 }]);
  t.equal(w.status, VIRTIO_BLK_S_OK);
  t.equal(w.len, 1);
  t.same(expected(img, 100, 1536), data, 'the file holds the written sectors');
  t.same(expected(img, 99, 512), new Uint8Array(patternSlice(99)), 'neighbour untouched');

  const f = submit(q, [{ readable: header(VIRTIO_BLK_T_FLUSH, 0) }, { writable: 1 }]);
  t.equal(f.status, VIRTIO_BLK_S_OK);

  const id = submit(q, [{ readable: header(VIRTIO_BLK_T_GET_ID, 0) }, { writable: 20 }, { writable: 1 }]);
  t.equal(id.status, VIRTIO_BLK_S_OK);
  t.equal(id.len, 21);
  t.same(Buffer.from(q.readWritten(id.chain, 20)).toString('latin1'), 'kqubes-disk-0001\0\0\0\0');

  const u = submit(q, [{ readable: header(11 /* DISCARD, not offered */, 0) }, { writable: 1 }]);
  t.equal(u.status, VIRTIO_BLK_S_UNSUPP);
});

function patternSlice(sector: number): number[] {
  return Array.from({ length: 512 }, (_, k) => { const i = sector * 512 + k; return (i * 7 + (i >> 9)) & 0xff; });
}

t.test('any layout: header and status merged with data, split across descriptors, and indirect', async (t) => {
  const img = patternImage('layout.img');
  const { q } = setup(img, false);
  const h = header(VIRTIO_BLK_T_IN, 7);
  const split = submit(q, [{ readable: h.subarray(0, 3) }, { readable: h.subarray(3) }, { writable: 100 }, { writable: 413 }]);
  t.equal(split.status, VIRTIO_BLK_S_OK, 'data and status share the last buffer');
  t.same(q.readWritten(split.chain, 512), expected(img, 7, 512));
  const ind = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, 9) }, { writable: 512 }, { writable: 512 }, { writable: 1 }], true);
  t.equal(ind.status, VIRTIO_BLK_S_OK);
  t.same(q.readWritten(ind.chain, 1024), expected(img, 9, 1024));
});

t.test('bounds: out-of-range sectors and bad lengths are IOERR', async (t) => {
  const img = patternImage('bounds.img');
  const { q, logs } = setup(img, false);
  const cases: [string, ChainPart[]][] = [
    ['read past the end', [{ readable: header(VIRTIO_BLK_T_IN, SECTORS - 1) }, { writable: 1024 }, { writable: 1 }]],
    ['read at the last sector + 1', [{ readable: header(VIRTIO_BLK_T_IN, SECTORS) }, { writable: 512 }, { writable: 1 }]],
    ['huge sector', [{ readable: header(VIRTIO_BLK_T_IN, 0xffff_ffff_ffff_ffffn) }, { writable: 512 }, { writable: 1 }]],
    ['write past the end', [{ readable: header(VIRTIO_BLK_T_OUT, SECTORS) }, { readable: new Uint8Array(512) }, { writable: 1 }]],
    ['length not a multiple of 512', [{ readable: header(VIRTIO_BLK_T_IN, 0) }, { writable: 100 }, { writable: 1 }]],
    ['short header', [{ readable: new Uint8Array(8) }, { writable: 1 }]],
  ];
  for (const [name, parts] of cases) {
    const r = submit(q, parts);
    t.equal(r.status, VIRTIO_BLK_S_IOERR, name);
    t.equal(r.len, 1, `${name}: only the status byte written`);
  }
  t.equal(fs.statSync(img).size, SECTORS * 512, 'the image did not grow');
  t.match(logs.join('\n'), /beyond capacity 2048/);
  const last = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, SECTORS - 1) }, { writable: 512 }, { writable: 1 }]);
  t.equal(last.status, VIRTIO_BLK_S_OK, 'the last sector is readable');
  const noStatus = q.addChain([{ readable: header(VIRTIO_BLK_T_IN, 0) }]);
  q.kick();
  t.same(q.takeUsed(), [{ id: noStatus.head, len: 0 }], 'a request with no status byte is returned unprocessed');
  t.match(logs.at(-1), /no writable status byte/);
});

t.test('a request with more data than SEG_MAX * SIZE_MAX is refused', async (t) => {
  const img = patternImage('big.img', BLK_MAX_DATA_BYTES + 4096);
  const { q, logs } = setup(img, false, undefined, undefined, 3 * BLK_MAX_DATA_BYTES);
  const ok = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, 0) }, { writable: BLK_MAX_DATA_BYTES }, { writable: 1 }]);
  t.equal(ok.status, VIRTIO_BLK_S_OK, 'exactly the bound is fine');
  const big = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, 0) }, { writable: BLK_MAX_DATA_BYTES + 512 }, { writable: 1 }]);
  t.equal(big.status, VIRTIO_BLK_S_IOERR);
  t.match(logs.at(-1), /data length 16646656 is not a multiple of 512 up to 16646144/);
});

t.test('read-only image: RO feature, writes refused, reads work', async (t) => {
  const img = patternImage('ro.img');
  fs.chmodSync(img, 0o444);
  const { q, drv } = setup(img, true);
  t.ok(drv.deviceFeatures() & VIRTIO_BLK_F_RO);
  const w = submit(q, [{ readable: header(VIRTIO_BLK_T_OUT, 0) }, { readable: new Uint8Array(512).fill(0xff) }, { writable: 1 }]);
  t.equal(w.status, VIRTIO_BLK_S_IOERR);
  t.same(expected(img, 0, 512), new Uint8Array(patternSlice(0)), 'file unchanged');
  const r = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, 0) }, { writable: 512 }, { writable: 1 }]);
  t.equal(r.status, VIRTIO_BLK_S_OK);
  t.same(q.readWritten(r.chain, 512), new Uint8Array(patternSlice(0)));
  const f = submit(q, [{ readable: header(VIRTIO_BLK_T_FLUSH, 0) }, { writable: 1 }]);
  t.equal(f.status, VIRTIO_BLK_S_OK);
});

t.test('write-through when the driver does not negotiate FLUSH', async (t) => {
  const img = patternImage('wt.img');
  const { q } = setup(img, false, undefined, ~VIRTIO_BLK_F_FLUSH);
  const w = submit(q, [{ readable: header(VIRTIO_BLK_T_OUT, 1) }, { readable: new Uint8Array(512).fill(3) }, { writable: 1 }]);
  t.equal(w.status, VIRTIO_BLK_S_OK);
  t.same(expected(img, 1, 512), new Uint8Array(512).fill(3));
});

t.test('constructor errors name the file and the id', async (t) => {
  t.throws(() => new VirtioBlock({ path: path.join(dir, 'missing.img'), readOnly: true }), /cannot open .*missing\.img/);
  const img = patternImage('id.img', 4096);
  t.throws(() => new VirtioBlock({ path: img, readOnly: true, id: 'x'.repeat(21) }), /at most 20/);
  const logs: string[] = [];
  const odd = patternImage('odd.img', 1000);
  const dev = new VirtioBlock({ path: odd, readOnly: true }, (l) => logs.push(l));
  t.equal(dev.sectors, 1, 'partial sector hidden');
  t.match(logs[0], /not a multiple of 512/);
  dev.close();
});

t.test('an ext4 image made with mkfs.ext4 -d: a known file at its known block', async (t) => {
  const src = path.join(dir, 'root');
  fs.mkdirSync(src);
  const content = 'hello from a virtio-blk test\n'.repeat(200);
  fs.writeFileSync(path.join(src, 'hello.txt'), content);
  const img = path.join(dir, 'ext4.img');
  // e2fsprogs is a build dependency of the images (mkfs.ext4 -d), so it is present wherever tests run
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', src, img, '8M'], { stdio: 'pipe' });
  const bmap = execFileSync('debugfs', ['-R', 'bmap /hello.txt 0', img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const block = Number(bmap);
  t.ok(block > 0, `hello.txt starts at block ${block}`);
  const { q } = setup(img, true);
  const sb = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, 2) }, { writable: 1024 }, { writable: 1 }]);
  t.equal(sb.status, VIRTIO_BLK_S_OK);
  const magic = new DataView(q.readWritten(sb.chain, 1024).buffer).getUint16(56, true);
  t.equal(magic, 0xef53, 'ext4 superblock magic at byte 1024+56');
  const f = submit(q, [{ readable: header(VIRTIO_BLK_T_IN, block * 8) }, { writable: 4096 }, { writable: 1 }]);
  t.equal(f.status, VIRTIO_BLK_S_OK);
  t.equal(Buffer.from(q.readWritten(f.chain, content.length > 4096 ? 4096 : content.length)).toString(), content.slice(0, 4096));
});
