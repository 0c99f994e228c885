// Pause, resume and stop of a running tiny VM through the real control socket (startControlServer + ControlClient).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ControlClient } from '../../vmm/api/control-client.js';
import { startControlServer } from '../../vmm/api/control-server.js';
import type { VmExit } from '../../vmm/runtime/vm.js';
import { TINY_CODE_ADDR } from '../helpers/tiny-guest.js';
import { GuestAsm } from '../helpers/tiny-vm-asm.js';
import { buildTinyVm, sleep, waitUntil } from '../helpers/tiny-vm.js';

const COUNTER_PORT = 0x560;
/** exits the counter must advance by to count as "running" (each costs ~1 ms in an emulated KVM host) */
const PROGRESS = 20;
/** how long a paused counter is watched */
const QUIET_MS = 300;
const EXIT_TIMEOUT_MS = 30_000;

if (!fs.existsSync('/dev/kvm')) {
  t.plan(0, 'no /dev/kvm here: run this tier with `node dist/test/harness/run-tests.js kvm`');
} else {
  run();
}

/** Thread ids of this process (workers included). */
function taskIds(): Set<number> {
  return new Set(fs.readdirSync('/proc/self/task').map(Number));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms waiting for ${what}`)))]);
}

function run(): void {
  t.test('control API: describe, pause stops the guest, resume restarts it, stop ends the VM and its workers', async (t) => {
    let count = 0;
    const counter = {
      read: (_o: number, d: Uint8Array) => void d.fill(0),
      write: () => void count++,
    };
    const code = new GuestAsm(16, TINY_CODE_ADDR)
      .movAlImm(0)
      .label('again').incAl().movDxImm(COUNTER_PORT).outDxAl().jmp('again')
      .bytes();
    const tvm = buildTinyVm({
      name: 'counting',
      images: [{ addr: TINY_CODE_ADDR, bytes: code }],
      vcpus: [{ entry: TINY_CODE_ADDR }],
      devices: [{ bus: 'pio', base: COUNTER_PORT, len: 1, name: 'counter', device: counter }],
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qvmm-rt-'));
    const sock = path.join(dir, 'api.sock');
    t.teardown(async () => {
      await tvm.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    // Wired as run-vm.ts does: the VM owns its control server and closes it when it ends.
    const server = await startControlServer(sock, tvm.vm);
    tvm.vm.own(server);

    const threadsBefore = taskIds();
    await tvm.start();
    const workerThreads = [...taskIds()].filter((tid) => !threadsBefore.has(tid));
    t.ok(workerThreads.length >= 1, 'starting the VM started a vCPU thread');
    await waitUntil(() => count >= PROGRESS, 'the guest to start counting');

    const client = await ControlClient.connect(sock);
    t.teardown(() => client.close());
    const d1 = await client.call('describe');
    t.equal(d1.state, 'running', 'describe: running');
    t.equal(d1.name, 'counting', 'describe: the VM name');
    t.equal(d1.vcpus, 1, 'describe: one vCPU');
    t.same(d1.devices.map((d) => d.id), ['counter'], 'describe lists the device');

    t.equal(await client.call('pause'), null, 'pause answered');
    const paused1 = count;
    await sleep(QUIET_MS);
    const paused2 = count;
    t.equal(paused2, paused1, `the counter stays at ${paused1} while paused`);
    t.equal((await client.call('describe')).state, 'paused', 'describe: paused');

    t.equal(await client.call('resume'), null, 'resume answered');
    await waitUntil(() => count >= paused2 + PROGRESS, 'the counter to advance after resume');
    t.ok(count > paused2, 'the counter advances again');
    t.equal((await client.call('describe')).state, 'running', 'describe: running again');

    let exit: VmExit | undefined;
    void tvm.vm.exited.then((e) => (exit = e));
    t.equal(await client.call('stop'), null, 'stop answered');
    const ended = await withTimeout(tvm.vm.exited, EXIT_TIMEOUT_MS, 'the VM to exit');
    t.same(ended, { code: 0, reason: 'stopped by the host' }, 'exited resolves: stopped by the host, code 0');
    t.ok(exit !== undefined, 'exited had resolved');
    const stopped = count;
    await sleep(QUIET_MS);
    t.equal(count, stopped, 'the counter no longer advances');
    const alive = taskIds();
    t.same(workerThreads.filter((tid) => alive.has(tid)), [], 'the vCPU worker threads ended');
    t.equal(fs.existsSync(sock), false, 'the VM closed its control socket');
    t.same(tvm.errors, [], 'no vCPU errors');
  });
}
