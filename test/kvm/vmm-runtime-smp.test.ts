// Two vCPUs of one VM run at the same time in two VcpuThread workers, their PIO exits served by one Bus.
import fs from 'node:fs';
import t from 'tap';
import { GuestAsm } from '../helpers/tiny-vm-asm.js';
import { buildTinyVm, waitUntil } from '../helpers/tiny-vm.js';

const READY_PORT = 0x540;
const ID_PORT = 0x541;
/** a byte of guest RAM the test sets once both vCPUs have checked in */
const GO_FLAG_ADDR = 0x500;
const CODE_BASE = 0x1000;
const CODE_STRIDE = 0x100;
const STACK_TOP = 0x7000;
const STACK_STRIDE = 0x800;
/** writes per vCPU: enough to overlap, few enough for an emulated KVM host */
const WRITES = 200;
const VCPUS = 2;

if (!fs.existsSync('/dev/kvm')) {
  t.plan(0, 'no /dev/kvm here: run this tier with `node dist/test/harness/run-tests.js kvm`');
} else {
  run();
}

function run(): void {
  t.test('two vCPUs run at once: both write N times and their writes interleave', async (t) => {
    const ready = new Set<number>();
    const ids: number[] = [];
    let setGo = (): void => undefined;
    const readyDevice = {
      read: (_o: number, d: Uint8Array) => void d.fill(0),
      write: (_o: number, d: Uint8Array) => {
        ready.add(d[0]!);
        // Released together: the flag is set before the last check-in's exit is answered.
        if (ready.size === VCPUS) setGo();
      },
    };
    const idDevice = {
      read: (_o: number, d: Uint8Array) => void d.fill(0),
      write: (_o: number, d: Uint8Array) => void ids.push(d[0]!),
    };
    const images = Array.from({ length: VCPUS }, (_, id) => {
      const addr = CODE_BASE + id * CODE_STRIDE;
      const bytes = new GuestAsm(16, addr)
        .movAlImm(id).movDxImm(READY_PORT).outDxAl()
        .label('spin').pause().movAlMem(GO_FLAG_ADDR).cmpAlImm(0).jz('spin')
        .movCxImm(WRITES).movAlImm(id).movDxImm(ID_PORT)
        .label('again').outDxAl().loop('again')
        .hlt()
        .bytes();
      return { addr, bytes };
    });
    const tvm = buildTinyVm({
      name: 'smp',
      images,
      vcpus: images.map((img, id) => ({ entry: img.addr, stackTop: STACK_TOP - id * STACK_STRIDE })),
      devices: [
        { bus: 'pio', base: READY_PORT, len: 1, name: 'ready', device: readyDevice },
        { bus: 'pio', base: ID_PORT, len: 1, name: 'ids', device: idDevice },
      ],
    });
    setGo = () => tvm.mem.write(GO_FLAG_ADDR, Uint8Array.of(1));
    t.teardown(() => tvm.close());
    await tvm.start();
    await waitUntil(() => tvm.guestStops.length === VCPUS || tvm.errors.length > 0, 'both vCPUs to halt');
    t.same(tvm.errors, [], 'no vCPU errors');
    t.same(tvm.guestStops.map((s) => s.reason), ['hlt', 'hlt'], 'both vCPUs ran to their hlt');
    t.same([...ready].sort(), [0, 1], 'both vCPUs checked in');
    const count = (id: number): number => ids.filter((x) => x === id).length;
    t.equal(count(0), WRITES, `vCPU 0 wrote its id ${WRITES} times`);
    t.equal(count(1), WRITES, `vCPU 1 wrote its id ${WRITES} times`);
    t.equal(ids.length, VCPUS * WRITES, 'no other value reached the port');
    // Running at once: each vCPU's first write comes before the other's last one.
    t.ok(ids.indexOf(1) < ids.lastIndexOf(0), `vCPU 1 started (at ${ids.indexOf(1)}) before vCPU 0 finished (at ${ids.lastIndexOf(0)})`);
    t.ok(ids.indexOf(0) < ids.lastIndexOf(1), `vCPU 0 started (at ${ids.indexOf(0)}) before vCPU 1 finished (at ${ids.lastIndexOf(1)})`);
  });
}
