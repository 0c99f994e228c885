// The addon without KVM: argument checks, errno errors, memfd/mmap, eventfd/poll, signals, loading in a worker.
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { native } from '../../kvm-native/index.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, MAP_SHARED, PROT_READ, PROT_WRITE } from '../../vmm/kvm/constants.js';

const MFD_CLOEXEC = 0x1;
const MAP_PRIVATE = 0x02;
const MAP_ANONYMOUS = 0x20;
const PROT_EXEC = 0x4;
const MADV_DONTNEED = 4;
const POLLIN = 0x1;
const PAGE = 4096;

t.test('syscall failures throw Errors with code, errno and syscall', async (t) => {
  const fd = native.eventfd(0, EFD_CLOEXEC);
  native.close(fd);
  t.throws(() => native.kvmGetApiVersion(fd), {
    code: 'EBADF', errno: 9, syscall: 'KVM_GET_API_VERSION', message: 'KVM_GET_API_VERSION failed: EBADF (Bad file descriptor)',
  });
  const efd = native.eventfd(0, EFD_CLOEXEC);
  t.teardown(() => native.close(efd));
  t.throws(() => native.kvmCreateVm(efd, 0), { code: 'ENOTTY', syscall: 'KVM_CREATE_VM' }, 'an ioctl on a non-KVM fd');
});

t.test('arguments are checked before the syscall', async (t) => {
  t.throws(() => native.kvmGetApiVersion(-1), RangeError);
  t.throws(() => native.kvmGetApiVersion(1.5), RangeError);
  t.throws(() => native.kvmGetApiVersion('3' as unknown as number), TypeError);
  t.throws(() => (native.kvmCreateVm as (fd: number) => number)(3), TypeError, 'missing argument');
  t.throws(() => native.vcpuSetRegs(0, new Uint8Array(143)), RangeError, 'kvm_regs must be 144 bytes');
  t.throws(() => native.vcpuSetSregs(0, new Uint8Array(313)), RangeError);
  t.throws(() => native.vcpuSetFpu(0, new Uint8Array(400)), RangeError);
  t.throws(() => native.vcpuSetRegs(0, new Uint16Array(72) as unknown as Uint8Array), TypeError, 'only Uint8Array');
  const cpuid = new Uint8Array(8 + 40);
  new DataView(cpuid.buffer).setUint32(0, 2, true);
  t.throws(() => native.vcpuSetCpuid2(0, cpuid), RangeError, 'nent 2 with one entry of bytes');
  const msrs = new Uint8Array(8 + 16 * 2);
  new DataView(msrs.buffer).setUint32(0, 1, true);
  t.throws(() => native.vcpuGetMsrs(0, msrs), RangeError, 'nmsrs 1 with two entries of bytes');
  t.throws(() => native.vcpuGetMsrs(0, new Uint8Array(4)), RangeError, 'shorter than the header');
  t.throws(() => native.vmIoeventfd(0, 0, 0n, 3, 0, 0n), RangeError, 'ioeventfd len 3');
  t.throws(() => native.vmSetIdentityMapAddr(0, -1n), RangeError, 'negative bigint');
  t.throws(() => native.vmSetIdentityMapAddr(0, 1n << 64n), RangeError, 'bigint over u64');
  t.throws(() => native.vmSetUserMemoryRegion(0, 0, 0, 0n, new ArrayBuffer(PAGE)), TypeError, 'slot memory must come from mmap');
  t.throws(() => native.mmap(PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), RangeError, 'no PROT_EXEC');
  t.throws(() => native.mmap(PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | 0x10, -1, 0n), RangeError, 'no MAP_FIXED');
  t.throws(() => native.mmap(PAGE, PROT_READ, MAP_SHARED, -1, 0n), RangeError, 'fd -1 without MAP_ANONYMOUS');
  t.throws(() => native.mmap(0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), RangeError, 'length 0');
  t.throws(() => native.memfdCreate('x'.repeat(250), MFD_CLOEXEC), RangeError);
  t.throws(() => native.poll(Int32Array.of(0), new Int16Array(2), new Int16Array(1), 0), RangeError);
});

t.test('memfd + mmap: two mappings of one memfd share bytes; madvise is bounded', async (t) => {
  const fd = native.memfdCreate('kvm-native-test', MFD_CLOEXEC);
  t.teardown(() => native.close(fd));
  native.ftruncate(fd, BigInt(2 * PAGE));
  const a = native.mmap(2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
  const b = native.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, BigInt(PAGE));
  t.equal(a.byteLength, 2 * PAGE);
  new Uint8Array(a)[PAGE + 7] = 0x99;
  t.equal(new Uint8Array(b)[7], 0x99, 'the second mapping sees the write at its file offset');
  native.madvise(a, 0, PAGE, MADV_DONTNEED);
  t.throws(() => native.madvise(a, PAGE, 2 * PAGE, MADV_DONTNEED), RangeError, 'range past the mapping');
  t.throws(() => native.madvise(new ArrayBuffer(PAGE), 0, PAGE, MADV_DONTNEED), TypeError, 'not one of our mappings');
  t.throws(() => native.mmap(PAGE, PROT_READ, MAP_SHARED, fd, 1n), { code: 'EINVAL', syscall: 'mmap' }, 'unaligned offset');
  const anon = native.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  t.equal(new Uint8Array(anon)[0], 0, 'anonymous memory is zeroed');
});

t.test('eventfd counts, reads null when empty (non-blocking), and polls readable', async (t) => {
  const fd = native.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  t.teardown(() => native.close(fd));
  const fds = Int32Array.of(fd);
  const events = Int16Array.of(POLLIN);
  const revents = new Int16Array(1);
  t.equal(native.eventfdRead(fd), null);
  t.equal(native.poll(fds, events, revents, 0), 0, 'not readable yet');
  native.eventfdWrite(fd, 2n);
  native.eventfdWrite(fd, 3n);
  t.equal(native.poll(fds, events, revents, 0), 1);
  t.equal(revents[0]! & POLLIN, POLLIN);
  t.equal(native.eventfdRead(fd), 5n);
  t.equal(native.eventfdRead(fd), null);
  t.throws(() => native.eventfdWrite(fd, 0xffff_ffff_ffff_ffffn), { code: 'EINVAL', syscall: 'write' });
});

t.test('signals: only real-time signals, delivered to a thread of this process', async (t) => {
  const sig = native.sigrtmin();
  t.ok(sig >= 32 && sig <= 64, `SIGRTMIN ${sig}`);
  t.throws(() => native.installNoopSignalHandler(10), RangeError, 'SIGUSR1 belongs to Node');
  t.throws(() => native.tgkill(native.gettid(), 15), RangeError, 'SIGTERM is not for kicking');
  native.installNoopSignalHandler(sig);
  native.tgkill(native.gettid(), sig);
  t.equal(native.gettid(), process.pid, 'the main thread tid is the pid');
});

t.test('the addon loads in a worker thread and sees the same memfd', async (t) => {
  const fd = native.memfdCreate('kvm-native-worker', MFD_CLOEXEC);
  t.teardown(() => native.close(fd));
  native.ftruncate(fd, BigInt(PAGE));
  new Uint8Array(native.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n))[3] = 42;
  const nativeUrl = new URL('../../kvm-native/index.js', import.meta.url).href;
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads');
     import(workerData.nativeUrl).then(({ native }) => {
       const bytes = new Uint8Array(native.mmap(4096, 3, 1, workerData.fd, 0n));
       parentPort.postMessage({ tid: native.gettid(), byte: bytes[3] });
     }, (e) => parentPort.postMessage({ error: String(e) }));`,
    { eval: true, workerData: { nativeUrl, fd } },
  );
  const msg = await new Promise<{ tid?: number; byte?: number; error?: string }>((res, rej) => {
    worker.once('message', res);
    worker.once('error', rej);
  });
  await worker.terminate();
  t.equal(msg.error, undefined);
  t.equal(msg.byte, 42);
  t.not(msg.tid, native.gettid(), 'a different thread');
});
