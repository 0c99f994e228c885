// Control server and client over a real unix socket: methods, errors, bounds, many clients, socket file safety.
import t from 'tap';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ControlCallError, ControlClient } from '../../vmm/api/control-client.js';
import { startControlServer, type VmController } from '../../vmm/api/control-server.js';
import { CONTROL_API_VERSION, MAX_LINE_BYTES, type VmDescription, type VmState } from '../../vmm/api/protocol.js';

/** The server's collaborator: a VM model that keeps a state and records each call it gets. */
class RecordingVm implements VmController {
  readonly calls: string[] = [];
  state: VmState = 'running';
  describe(): VmDescription {
    this.calls.push('describe');
    return {
      apiVersion: CONTROL_API_VERSION,
      name: 'work',
      state: this.state,
      pid: process.pid,
      vcpus: 2,
      memoryMiB: 400,
      uptimeMs: 10,
      devices: [{ kind: 'serial', id: 'com1', bus: 'pio', base: 0x3f8, len: 8, irq: 4 }],
    };
  }
  async pause(): Promise<void> {
    this.calls.push('pause');
    if (this.state !== 'running') throw new Error(`VM is ${this.state}`);
    this.state = 'paused';
  }
  async resume(): Promise<void> {
    this.calls.push('resume');
    if (this.state !== 'paused') throw new Error(`VM is ${this.state}`);
    this.state = 'running';
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
    this.state = 'stopping';
  }
}

async function tempSocketPath(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kq-api-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return path.join(dir, 'qvmm.sock');
}

/** A raw connection: send bytes, collect response lines until the server closes or `count` lines came. */
function rawExchange(socketPath: string, payload: string | Buffer, count: number): Promise<{ lines: unknown[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    const lines: unknown[] = [];
    const finish = (closed: boolean): void => {
      sock.destroy();
      resolve({ lines, closed });
    };
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
      if (lines.length >= count) finish(false);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? finish(true) : reject(e)));
    sock.on('close', () => finish(true));
    sock.write(payload);
  });
}

t.test('describe, pause, resume, stop reach the VmController and answer', async (t) => {
  const socketPath = await tempSocketPath(t);
  const vm = new RecordingVm();
  const server = await startControlServer(socketPath, vm);
  t.teardown(() => server.close());
  const client = await ControlClient.connect(socketPath);
  t.teardown(() => client.close());

  const d = await client.call('describe');
  t.equal(d.state, 'running');
  t.equal(d.pid, process.pid);
  t.same(d.devices, [{ kind: 'serial', id: 'com1', bus: 'pio', base: 0x3f8, len: 8, irq: 4 }]);
  t.equal(await client.call('pause'), null);
  t.equal((await client.call('describe')).state, 'paused');
  await t.rejects(client.call('pause'), { name: 'ControlCallError', message: 'control pause: pause failed: VM is paused' });
  t.equal(await client.call('resume'), null);
  t.equal(await client.call('stop', {}), null);
  t.equal((await client.call('describe')).state, 'stopping');
  t.same(vm.calls, ['describe', 'pause', 'describe', 'pause', 'resume', 'stop', 'describe']);
});

t.test('overlapping calls on one connection and many clients are all answered', async (t) => {
  const socketPath = await tempSocketPath(t);
  const vm = new RecordingVm();
  const server = await startControlServer(socketPath, vm);
  t.teardown(() => server.close());
  const clients = await Promise.all(Array.from({ length: 5 }, () => ControlClient.connect(socketPath)));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  const results = await Promise.all(clients.flatMap((c) => [c.call('describe'), c.call('describe'), c.call('describe')]));
  t.equal(results.length, 15);
  t.ok(results.every((r) => r.name === 'work'));
  t.equal(vm.calls.length, 15);
});

t.test('malformed JSON and unknown methods get error answers; the connection stays usable', async (t) => {
  const socketPath = await tempSocketPath(t);
  const vm = new RecordingVm();
  const server = await startControlServer(socketPath, vm);
  t.teardown(() => server.close());
  const { lines, closed } = await rawExchange(
    socketPath,
    '{"id":1,"method":\n\n{"id":2,"method":"reboot"}\n{"id":3,"method":"pause","now":1}\n{"id":4,"method":"describe"}\n',
    4,
  );
  t.equal(closed, false);
  t.match(lines[0], { id: null, ok: false, error: /not valid JSON/ });
  t.same(lines[1], { id: 2, ok: false, error: 'unknown method "reboot" (known: describe, pause, resume, stop)' });
  t.same(lines[2], { id: 3, ok: false, error: 'unknown field "now" in request' });
  t.match(lines[3], { id: 4, ok: true, result: { name: 'work' } });
  t.same(vm.calls, ['describe'], 'nothing invalid reached the VM');
});

t.test('an oversized line gets an error and the connection is closed', async (t) => {
  const socketPath = await tempSocketPath(t);
  const vm = new RecordingVm();
  const server = await startControlServer(socketPath, vm);
  t.teardown(() => server.close());
  const { lines, closed } = await rawExchange(socketPath, Buffer.alloc(MAX_LINE_BYTES + 10, 0x20), 2);
  t.equal(closed, true);
  t.same(lines, [{ id: null, ok: false, error: 'request line exceeds 65536 bytes; closing connection' }]);
  // The server still serves others.
  const client = await ControlClient.connect(socketPath);
  t.teardown(() => client.close());
  t.equal((await client.call('describe')).name, 'work');
});

t.test('a client that half-closes after its request still gets the answer (socat style)', async (t) => {
  const socketPath = await tempSocketPath(t);
  const server = await startControlServer(socketPath, new RecordingVm());
  t.teardown(() => server.close());
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath, allowHalfOpen: true });
    let got = '';
    sock.on('data', (d) => (got += d.toString()));
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
    sock.end('{"id":7,"method":"describe"}\n{"id":8,"method":"describe"}');
  });
  const [first, second] = answer.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
  t.match(first, { id: 7, ok: true });
  t.same(second, { id: null, ok: false, error: 'request not terminated by a newline at end of stream' });
});

t.test('the socket file is mode 0600 and removed on close', async (t) => {
  const socketPath = await tempSocketPath(t);
  const server = await startControlServer(socketPath, new RecordingVm());
  const st = await fs.lstat(socketPath);
  t.equal(st.isSocket(), true);
  t.equal(st.mode & 0o777, 0o600);
  t.same((await fs.readdir(path.dirname(socketPath))).sort(), ['qvmm.sock'], 'no temporary left behind');
  await server.close();
  await t.rejects(fs.lstat(socketPath), { code: 'ENOENT' });
});

t.test('a stale socket is replaced; a live socket or a non-socket is refused and left alone', async (t) => {
  const socketPath = await tempSocketPath(t);
  // Stale: a socket file nobody listens on (a hard link outliving its listener).
  const other = `${socketPath}.old`;
  const old = net.createServer();
  await new Promise<void>((r) => old.listen(other, r));
  await fs.link(other, socketPath);
  await new Promise<void>((r) => old.close(() => r()));
  const server = await startControlServer(socketPath, new RecordingVm());
  const client = await ControlClient.connect(socketPath);
  t.equal((await client.call('describe')).name, 'work');
  await client.close();

  // Live: the first server still listens there.
  await t.rejects(startControlServer(socketPath, new RecordingVm()), { name: 'ControlServerError', message: /another process is listening/ });
  t.equal((await fs.lstat(socketPath)).isSocket(), true, 'the live socket is still there');
  await server.close();

  // Not a socket: a regular file is never removed.
  await fs.writeFile(socketPath, 'precious');
  await t.rejects(startControlServer(socketPath, new RecordingVm()), { message: /exists and is not a socket/ });
  t.equal(await fs.readFile(socketPath, 'utf8'), 'precious');
});

t.test('a VmController returning an invalid description yields an error answer, not a crash', async (t) => {
  const socketPath = await tempSocketPath(t);
  const vm = new RecordingVm();
  vm.describe = () => ({ ...RecordingVm.prototype.describe.call(vm), vcpus: -1 });
  const server = await startControlServer(socketPath, vm);
  t.teardown(() => server.close());
  const client = await ControlClient.connect(socketPath);
  t.teardown(() => client.close());
  await t.rejects(client.call('describe'), { message: /control describe: describe failed: description.vcpus must be a non-negative integer/ });
  t.equal(await client.call('pause'), null, 'the connection is still usable');
});

t.test('calls waiting when the server goes away reject; connecting to nothing rejects', async (t) => {
  const socketPath = await tempSocketPath(t);
  const vm = new RecordingVm();
  let reached: () => void = () => undefined;
  const stopReached = new Promise<void>((r) => (reached = r));
  vm.stop = () => {
    reached();
    return new Promise<void>(() => undefined); // never finishes
  };
  const server = await startControlServer(socketPath, vm);
  const client = await ControlClient.connect(socketPath);
  const waiting = t.rejects(client.call('stop'), { name: 'ControlCallError', message: 'control stop: connection closed' });
  await stopReached;
  await server.close();
  await waiting;
  await t.rejects(client.call('describe'), ControlCallError);
  await t.rejects(ControlClient.connect(socketPath), { message: /cannot connect: ENOENT/ });
});

t.test('a socket path too long for sun_path is refused up front', async (t) => {
  const dir = path.dirname(await tempSocketPath(t));
  await t.rejects(startControlServer(path.join(dir, 'x'.repeat(120)), new RecordingVm()), { message: /path too long for a unix socket/ });
});
