// Entry point of a vCPU worker thread: runs KVM_RUN in a loop and hands each PIO/MMIO exit to the
// main thread's buses through the VM's exit ring (writes posted, reads answered in place).
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../../kvm-native/index.js';
import { KvmRun } from '../kvm/run.js';
import { SLOT, createExitChannel, type VcpuMessage, type VcpuWorkerData } from './exit-channel.js';
import { ACCESS, ExitRing } from './exit-ring.js';
import { KVM_EXIT, KVM_SYSTEM_EVENT, MAP_SHARED, PROT_READ, PROT_WRITE } from '../kvm/constants.js';

const EINTR_RESULT = -4;

const data = workerData as VcpuWorkerData;
const port = parentPort!;
const channel = createExitChannel(data.channel);
const { ctl } = channel;
const run = new KvmRun(native.mmap(data.runMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, data.vcpuFd, 0n));

function post(msg: VcpuMessage): void {
  port.postMessage(msg);
}

const ring = new ExitRing(data.ring);
const ringDoorbell = (): void => post({ type: 'doorbell' });

/** Hands one access to the main thread's buses: writes are posted, reads wait for their answer. */
function submit(access: number, addr: number, bytes: Uint8Array): void {
  ring.submit(access, addr, bytes, ringDoorbell);
}

function hasPioDevice(port: number, size: number): boolean {
  for (const [base, len] of data.pioRanges) if (port < base + len && port + size > base) return true;
  return false;
}

function handleIo(): void {
  const size = run.ioSize;
  const count = run.ioCount;
  const portNo = run.ioPort;
  const write = run.ioDirectionOut;
  if (!hasPioDevice(portNo, size)) {
    if (!write) run.ioDataAll().fill(0xff);
    return;
  }
  // `rep ins/outs` exits once with count > 1: the values lie back to back at data_offset.
  for (let i = 0; i < count; i++) {
    const bytes = run.ioData(i);
    submit(write ? ACCESS.PIO_WRITE : ACCESS.PIO_READ, portNo, bytes);
    if (size === 0) break;
  }
}

function handleMmio(): void {
  const bytes = run.mmioData();
  submit(run.mmioIsWrite ? ACCESS.MMIO_WRITE : ACCESS.MMIO_READ, run.mmioPhysAddr, bytes);
}

function park(): void {
  Atomics.store(ctl, SLOT.PARKED, 1);
  post({ type: 'parked', vcpuId: data.vcpuId });
  while (Atomics.load(ctl, SLOT.PAUSE) === 1 && Atomics.load(ctl, SLOT.STOP) === 0) Atomics.wait(ctl, SLOT.PAUSE, 1);
  Atomics.store(ctl, SLOT.PARKED, 0);
}

function loop(): void {
  for (;;) {
    if (Atomics.load(ctl, SLOT.STOP) === 1) return;
    if (Atomics.load(ctl, SLOT.PAUSE) === 1) {
      park();
      continue;
    }
    let rc: number;
    try {
      rc = native.vcpuRun(data.vcpuFd);
    } catch (e) {
      // KVM answers EAGAIN while an application processor waits for its INIT/SIPI: run it again.
      if ((e as { code?: string }).code === 'EAGAIN') continue;
      throw e;
    }
    if (rc === EINTR_RESULT) {
      run.immediateExit = 0;
      continue;
    }
    switch (run.exitReason) {
      case KVM_EXIT.IO:
        handleIo();
        break;
      case KVM_EXIT.MMIO:
        handleMmio();
        break;
      case KVM_EXIT.INTR:
        run.immediateExit = 0;
        break;
      case KVM_EXIT.SHUTDOWN:
        post({ type: 'guest-stop', vcpuId: data.vcpuId, reason: 'triple-fault' });
        return;
      case KVM_EXIT.SYSTEM_EVENT: {
        const t = run.systemEventType;
        const name = t === KVM_SYSTEM_EVENT.SHUTDOWN ? 'poweroff' : t === KVM_SYSTEM_EVENT.RESET ? 'reset' : t === KVM_SYSTEM_EVENT.CRASH ? 'crash' : `system event ${t}`;
        post({ type: 'guest-stop', vcpuId: data.vcpuId, reason: name });
        return;
      }
      case KVM_EXIT.HLT:
        // Only reached without an in-kernel irqchip (tiny guests): a halted CPU with nothing to wake it.
        post({ type: 'guest-stop', vcpuId: data.vcpuId, reason: 'hlt' });
        return;
      case KVM_EXIT.FAIL_ENTRY:
        post({ type: 'error', vcpuId: data.vcpuId, message: `KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x${run.failEntryReason.toString(16)}` });
        return;
      case KVM_EXIT.INTERNAL_ERROR:
        post({ type: 'error', vcpuId: data.vcpuId, message: `KVM_EXIT_INTERNAL_ERROR: suberror ${run.internalSuberror}` });
        return;
      default:
        post({ type: 'error', vcpuId: data.vcpuId, message: `unhandled KVM exit reason ${run.exitReason}` });
        return;
    }
  }
}

post({ type: 'started', vcpuId: data.vcpuId, tid: native.gettid() });
try {
  loop();
} catch (e) {
  post({ type: 'error', vcpuId: data.vcpuId, message: e instanceof Error ? e.message : String(e) });
}
post({ type: 'stopped', vcpuId: data.vcpuId });
