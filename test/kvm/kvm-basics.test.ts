// Real KVM basics with tiny guests: PIO/MMIO exits, `in` answers, ioeventfd, and kicking a vCPU out of KVM_RUN.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import t, { type Test } from 'tap';
import { native } from '../../kvm-native/index.js';
import { Kvm } from '../../vmm/kvm/kvm.js';
import {
  EFD_CLOEXEC, EFD_NONBLOCK, KVM_API_VERSION, KVM_CAP, KVM_EXIT, KVM_MP_STATE, KVM_PIT_SPEAKER_DUMMY, RUN_INTERRUPTED,
} from '../../vmm/kvm/constants.js';
import type { VcpuExit } from '../../vmm/kvm/exit.js';
import { FPU_OFFSET } from '../../vmm/kvm/structs.js';
import { Asm, TINY_CODE_ADDR, TINY_MMIO_ADDR, tinyGuest } from '../helpers/tiny-guest.js';

const COM1 = 0x3f8;
const IOEVENT_PORT = 0x500;
const IN_PORT = 0x60;
const ECHO_PORT = 0x80;
const MSR_IA32_SYSENTER_CS = 0x174;

if (!fs.existsSync('/dev/kvm')) {
  t.plan(0, 'no /dev/kvm here: run this tier with `npm run kvm-host -- npx tap dist/test/kvm/kvm-basics.test.js`');
} else {
  run();
}

function expectExit<R extends VcpuExit['reason']>(t: Test, exit: VcpuExit, reason: R): Extract<VcpuExit, { reason: R }> {
  t.equal(exit.reason, reason, `exit is ${reason}`);
  if (exit.reason !== reason) throw new Error(`expected ${reason}, got ${JSON.stringify(exit, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
  return exit as Extract<VcpuExit, { reason: R }>;
}

function run(): void {
  t.test('system fd: API version, capabilities, CPUID, MSR list', async (t) => {
    const kvm = Kvm.open();
    t.teardown(() => kvm.close());
    t.equal(kvm.apiVersion(), KVM_API_VERSION);
    t.ok(kvm.checkExtension(KVM_CAP.USER_MEMORY) > 0, 'KVM_CAP_USER_MEMORY');
    t.ok(kvm.checkExtension(KVM_CAP.IMMEDIATE_EXIT) > 0, 'KVM_CAP_IMMEDIATE_EXIT');
    t.ok(kvm.vcpuMmapSize() >= 4096, 'vcpu mmap size is at least a page');
    const cpuid = kvm.supportedCpuid();
    const leaf0 = cpuid.find((e) => e.function === 0);
    t.ok(leaf0 && leaf0.eax > 0, 'leaf 0 reports a max basic leaf');
    t.ok(kvm.msrIndexList().includes(MSR_IA32_SYSENTER_CS), 'SYSENTER_CS is in the MSR index list');
  });

  t.test('real mode: several `out 0x3f8, al` exit as KVM_EXIT_IO with the right fields', async (t) => {
    const code = new Asm(16).movDxImm(COM1).movAlImm(0x41).outDxAl().incAl().outDxAl().incAl().outDxAl().hlt().bytes();
    const g = tinyGuest(code);
    t.teardown(() => g.close());
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const exit = expectExit(t, g.vcpu.run(), 'io-out');
      t.equal(exit.port, COM1);
      t.equal(exit.size, 1);
      t.equal(exit.count, 1);
      t.equal(g.vcpu.mapRun().exitReason, KVM_EXIT.IO);
      seen.push(exit.data[0]!);
    }
    t.same(seen, [0x41, 0x42, 0x43]);
    expectExit(t, g.vcpu.run(), 'hlt');
    const regs = g.vcpu.getRegs();
    t.equal(regs.rax & 0xffn, 0x43n, 'al holds the last value');
    t.equal(regs.rip, BigInt(TINY_CODE_ADDR + code.length), 'rip is past hlt');
  });

  t.test('MMIO: a write and a read of unmapped memory exit as KVM_EXIT_MMIO', async (t) => {
    const code = new Asm(16).movAlImm(0x5a).movMemAl(TINY_MMIO_ADDR).movAlMem(TINY_MMIO_ADDR + 1).outImmAl(ECHO_PORT).hlt().bytes();
    const g = tinyGuest(code);
    t.teardown(() => g.close());
    const w = expectExit(t, g.vcpu.run(), 'mmio-write');
    t.equal(w.addr, TINY_MMIO_ADDR);
    t.same([...w.data], [0x5a]);
    const r = expectExit(t, g.vcpu.run(), 'mmio-read');
    t.equal(r.addr, TINY_MMIO_ADDR + 1);
    t.equal(r.data.length, 1);
    r.data[0] = 0xc3;
    const echo = expectExit(t, g.vcpu.run(), 'io-out');
    t.equal(echo.port, ECHO_PORT);
    t.same([...echo.data], [0xc3], 'the guest read the value the test wrote into mmio.data');
  });

  t.test('MMIO in flat 32-bit protected mode above 1 MiB', async (t) => {
    const addr = 0xd000_0004;
    const code = new Asm(32).movAlImm(0x77).movMemAl(addr).hlt().bytes();
    const g = tinyGuest(code, { mode: 'protected32' });
    t.teardown(() => g.close());
    const w = expectExit(t, g.vcpu.run(), 'mmio-write');
    t.equal(w.addr, addr);
    t.same([...w.data], [0x77]);
    expectExit(t, g.vcpu.run(), 'hlt');
  });

  t.test('`in al, dx` returns the value written into the io data', async (t) => {
    const code = new Asm(16).movDxImm(IN_PORT).inAlDx().outImmAl(ECHO_PORT).hlt().bytes();
    const g = tinyGuest(code);
    t.teardown(() => g.close());
    const inExit = expectExit(t, g.vcpu.run(), 'io-in');
    t.equal(inExit.port, IN_PORT);
    t.equal(inExit.size, 1);
    inExit.data[0] = 0x42;
    const echo = expectExit(t, g.vcpu.run(), 'io-out');
    t.equal(echo.port, ECHO_PORT);
    t.same([...echo.data], [0x42]);
  });

  t.test('ioeventfd: writes to a registered port do not exit and count on the eventfd', async (t) => {
    const code = new Asm(16)
      .movCxImm(5).movDxImm(IOEVENT_PORT).movAlImm(1)
      .label('again').outDxAl().loop('again')
      .movDxImm(COM1).outDxAl().hlt().bytes();
    const g = tinyGuest(code);
    const efd = native.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t.teardown(() => {
      native.close(efd);
      g.close();
    });
    g.vm.ioeventfd(efd, { space: 'pio', addr: IOEVENT_PORT });
    t.equal(native.eventfdRead(efd), null, 'nothing signalled before the guest runs');
    const exit = expectExit(t, g.vcpu.run(), 'io-out');
    t.equal(exit.port, COM1, 'the first exit is the write to COM1, not to the ioeventfd port');
    t.equal(native.eventfdRead(efd), 5n, 'five guest writes counted');
    g.vm.unregisterIoeventfd(efd, { space: 'pio', addr: IOEVENT_PORT });
    expectExit(t, g.vcpu.run(), 'hlt');
  });

  t.test('ioeventfd with datamatch only fires for the matching value', async (t) => {
    const code = new Asm(16).movDxImm(IOEVENT_PORT).movAlImm(7).outDxAl().movAlImm(9).outDxAl().hlt().bytes();
    const g = tinyGuest(code);
    const efd = native.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t.teardown(() => {
      native.close(efd);
      g.close();
    });
    g.vm.ioeventfd(efd, { space: 'pio', addr: IOEVENT_PORT }, { len: 1, value: 9n });
    const exit = expectExit(t, g.vcpu.run(), 'io-out');
    t.same([exit.port, exit.data[0]], [IOEVENT_PORT, 7], 'the non-matching write exits');
    expectExit(t, g.vcpu.run(), 'hlt');
    t.equal(native.eventfdRead(efd), 1n, 'the matching write was counted');
  });

  t.test('immediate_exit set before KVM_RUN: run returns -4 without running the guest', async (t) => {
    const g = tinyGuest(new Asm(16).outImmAl(ECHO_PORT).hlt().bytes());
    t.teardown(() => g.close());
    const run = g.vcpu.mapRun();
    run.immediateExit = 1;
    t.equal(g.vcpu.runRaw(), RUN_INTERRUPTED);
    t.equal(g.vcpu.getRegs().rip, BigInt(TINY_CODE_ADDR), 'the guest did not advance');
    run.immediateExit = 0;
    expectExit(t, g.vcpu.run(), 'io-out');
  });

  t.test('a signal kicks a vCPU worker thread out of an endless guest loop', async (t) => {
    const g = tinyGuest(new Asm(16).label('spin').nop().jmp('spin').bytes());
    t.teardown(() => g.close());
    const sig = native.sigrtmin();
    native.installNoopSignalHandler(sig);

    const runInWorker = (): { worker: Worker; tid: Promise<number>; rc: Promise<number> } => {
      const nativeUrl = new URL('../../kvm-native/index.js', import.meta.url).href;
      const worker = new Worker(
        `const { workerData, parentPort } = require('node:worker_threads');
         import(workerData.nativeUrl).then(({ native }) => {
           parentPort.postMessage({ tid: native.gettid() });
           parentPort.postMessage({ rc: native.vcpuRun(workerData.fd) });
         }, (e) => parentPort.postMessage({ error: String(e) }));`,
        { eval: true, workerData: { nativeUrl, fd: g.vcpu.fd } },
      );
      let tidResolve!: (n: number) => void;
      let rcResolve!: (n: number) => void;
      let fail!: (e: Error) => void;
      const tid = new Promise<number>((res) => (tidResolve = res));
      const rc = new Promise<number>((res, rej) => {
        rcResolve = res;
        fail = rej;
      });
      worker.on('message', (m: { tid?: number; rc?: number; error?: string }) => {
        if (m.tid !== undefined) tidResolve(m.tid);
        if (m.rc !== undefined) rcResolve(m.rc);
        if (m.error !== undefined) fail(new Error(m.error));
      });
      worker.on('error', (e) => fail(e));
      return { worker, tid, rc };
    };

    // 1. Signals alone: keep kicking until the ioctl returns (a signal sent before KVM_RUN is entered is lost).
    const a = runInWorker();
    const tidA = await a.tid;
    let rcA: number | undefined;
    void a.rc.then((rc) => (rcA = rc));
    while (rcA === undefined) {
      native.tgkill(tidA, sig);
      await new Promise((res) => setTimeout(res, 20));
    }
    t.equal(rcA, RUN_INTERRUPTED, 'KVM_RUN returned EINTR');
    t.equal(native.vcpuGetMpState(g.vcpu.fd) >= 0, true, 'the vCPU is still usable');
    await a.worker.terminate();

    // 2. immediate_exit + one signal, from the main thread's own mapping of kvm_run: no race.
    const b = runInWorker();
    const tidB = await b.tid;
    const run = g.vcpu.mapRun();
    run.immediateExit = 1;
    native.tgkill(tidB, sig);
    t.equal(await b.rc, RUN_INTERRUPTED, 'KVM_RUN returned EINTR after immediate_exit + kick');
    await b.worker.terminate();
    run.immediateExit = 0;
  });

  t.test('VM setup and vCPU state round trips: cpuid, msrs, fpu, sregs, lapic, mp state, irqs', async (t) => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    vm.setTssAddr(0xfffb_d000);
    vm.setIdentityMapAddr(0xfffb_c000);
    vm.createIrqchip();
    vm.createPit2(KVM_PIT_SPEAKER_DUMMY);
    const vcpu = vm.createVcpu(0);
    t.teardown(() => {
      vcpu.close();
      vm.close();
      kvm.close();
    });
    vcpu.setCpuid2(kvm.supportedCpuid());
    t.equal(vcpu.setMsrs([{ index: MSR_IA32_SYSENTER_CS, data: 0x10n }]), 1, 'one MSR written');
    t.same(vcpu.getMsrs([MSR_IA32_SYSENTER_CS]), [{ index: MSR_IA32_SYSENTER_CS, data: 0x10n }]);
    // KVM_SET_FPU/KVM_GET_FPU carry fcw, fsw, ftw, the x87 and xmm registers, but not mxcsr (the kernel
    // ignores it both ways), so the round trip checks fcw and xmm0.
    const raw = vcpu.getFpu().raw!.slice();
    raw.fill(0xa5, FPU_OFFSET.xmm, FPU_OFFSET.xmm + 16);
    vcpu.setFpu({ fcw: 0x37f, mxcsr: 0x1f80, raw });
    const fpu2 = vcpu.getFpu();
    t.equal(fpu2.fcw, 0x37f, 'fcw');
    t.same([...fpu2.raw!.subarray(FPU_OFFSET.xmm, FPU_OFFSET.xmm + 16)], Array(16).fill(0xa5), 'xmm0');
    const sregs = vcpu.getSregs();
    sregs.cr8 = 0n;
    sregs.ds = { ...sregs.ds, base: 0x12340n, selector: 0x1234 };
    vcpu.setSregs(sregs);
    const sregs2 = vcpu.getSregs();
    t.same([sregs2.ds.base, sregs2.ds.selector], [0x12340n, 0x1234]);
    const lapic = vcpu.getLapic();
    t.equal(lapic.length, 1024);
    vcpu.setLapic(lapic);
    t.equal(vcpu.getMpState(), KVM_MP_STATE.RUNNABLE, 'the BSP starts runnable');
    vcpu.setMpState(KVM_MP_STATE.RUNNABLE);
    vm.irqLine(4, 1);
    vm.irqLine(4, 0);
    const efd = native.eventfd(0, EFD_CLOEXEC);
    t.teardown(() => native.close(efd));
    vm.irqfd(efd, 5);
    vm.unregisterIrqfd(efd, 5);
    t.throws(() => native.vcpuSetCpuid2(vcpu.fd, new Uint8Array(8 + 39)), RangeError, 'cpuid length not 8 + n*40');
    t.throws(() => vm.setUserMemoryRegion(1, 0x10_0000, new ArrayBuffer(4096)), TypeError, 'only mmap() memory can back a slot');
  });

  t.test('addon errors carry errno names and the ioctl', async (t) => {
    const kvm = Kvm.open();
    t.teardown(() => kvm.close());
    const vm = kvm.createVm();
    t.teardown(() => vm.close());
    vm.createVcpu(0);
    t.throws(() => vm.createVcpu(0), { code: 'EEXIST', syscall: 'KVM_CREATE_VCPU', message: /KVM_CREATE_VCPU failed: EEXIST/ });
  });
}
