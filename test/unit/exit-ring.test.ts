// The exit ring between vCPU workers and the main thread: writes posted in order, reads answered in place,
// one doorbell at a time, and the order of accesses from several producer threads kept as issued.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { ACCESS, ExitRing, RING_ENTRIES } from '../../vmm/vcpu/exit-ring.js';

const RING_URL = new URL('../../vmm/vcpu/exit-ring.js', import.meta.url).href;

/** A producer thread: posts `writes` writes to port `port` (value = sequence number), then one read of `port`. */
function producer(ring: ExitRing, port: number, writes: number): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(({ ExitRing, ACCESS }) => {
      const ring = new ExitRing(workerData.sab);
      const ringDoorbell = () => parentPort.postMessage('doorbell');
      for (let i = 0; i < workerData.writes; i++) ring.submit(ACCESS.PIO_WRITE, workerData.port, Uint8Array.of(i & 0xff, i >> 8), ringDoorbell);
      const answer = new Uint8Array(2);
      ring.submit(ACCESS.PIO_READ, workerData.port, answer, ringDoorbell);
      parentPort.postMessage({ read: answer[0] | (answer[1] << 8) });
    });`;
  return new Worker(code, { eval: true, workerData: { url: RING_URL, sab: ring.sab, port, writes } });
}

interface Served {
  access: number;
  port: number;
  value: number;
}

function serveInto(log: Served[]) {
  return (access: number, addr: number, bytes: Uint8Array): void => {
    if (access === ACCESS.PIO_READ) {
      // a read answers how many writes to this port were served before it
      const n = log.filter((s) => s.port === addr && s.access === ACCESS.PIO_WRITE).length;
      bytes[0] = n & 0xff;
      bytes[1] = n >> 8;
    }
    log.push({ access, port: addr, value: bytes[0]! | (bytes[1]! << 8) });
  };
}

function run(ring: ExitRing, workers: Worker[], serve: ReturnType<typeof serveInto>): Promise<{ doorbells: number; reads: number[] }> {
  let doorbells = 0;
  const reads: number[] = [];
  return new Promise((resolve, reject) => {
    let left = workers.length;
    for (const w of workers) {
      w.on('error', reject);
      w.on('message', (m: 'doorbell' | { read: number }) => {
        if (m === 'doorbell') {
          doorbells++;
          ring.drain(serve);
        } else {
          reads.push(m.read);
          if (--left === 0) resolve({ doorbells, reads });
        }
      });
    }
  });
}

t.test('one producer: every write is served in order, the read sees all of them', async (t) => {
  const ring = new ExitRing();
  const log: Served[] = [];
  const n = RING_ENTRIES * 4; // more than the ring holds: the producer must wait for room
  const { doorbells, reads } = await run(ring, [producer(ring, 0x500, n)], serveInto(log));
  const writes = log.filter((s) => s.access === ACCESS.PIO_WRITE);
  t.equal(writes.length, n, 'all writes served');
  t.same(writes.map((w) => w.value), Array.from({ length: n }, (_, i) => i), 'in the order issued');
  t.same(reads, [n], 'the read was answered after every earlier write');
  t.ok(doorbells >= 1 && doorbells <= n + 1, `doorbells rang ${doorbells} times for ${n + 1} accesses`);
});

t.test('two producers: each one\'s accesses keep their order, and reads wait for their own writes', async (t) => {
  const ring = new ExitRing();
  const log: Served[] = [];
  const n = 300;
  const { reads } = await run(ring, [producer(ring, 0x600, n), producer(ring, 0x700, n)], serveInto(log));
  for (const port of [0x600, 0x700]) {
    const mine = log.filter((s) => s.port === port);
    t.equal(mine.length, n + 1, `port 0x${port.toString(16)}: ${n} writes and a read`);
    t.same(mine.slice(0, n).map((s) => s.value), Array.from({ length: n }, (_, i) => i), 'writes in order');
    t.equal(mine[n]!.access, ACCESS.PIO_READ, 'the read comes last');
  }
  t.same(reads, [n, n], 'each read saw all of its producer\'s writes');
});

t.test('drain with nothing queued serves nothing', async (t) => {
  const ring = new ExitRing();
  let calls = 0;
  ring.drain(() => calls++);
  t.equal(calls, 0);
});
