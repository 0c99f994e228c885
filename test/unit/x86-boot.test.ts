// setupLinuxBoot end to end on the real kernel (both formats) and its refusals: garbage, sizes, counts.
import fs from 'node:fs';
import t from 'tap';
import { GuestMemory } from '../../vmm/memory/guest-memory.js';
import { guestRegions, BOOT_GDT_START, CMDLINE_START, MPTABLE_START, PML4_START, ZERO_PAGE_START } from '../../vmm/arch/x86_64/layout.js';
import { MIN_MEMORY_MIB, setupLinuxBoot, BootError } from '../../vmm/arch/x86_64/boot.js';
import { findTestKernel, needs, translate } from './x86-fixture.js';

const MiB = 1024 * 1024;
const kernels = findTestKernel();
const mem256 = (): GuestMemory => GuestMemory.forTest(guestRegions(256 * MiB));

t.test('bzImage boot setup writes every structure', needs(kernels.vmlinuz), async (t) => {
  const mem = mem256();
  const initrd = Buffer.alloc(1 * MiB, 7);
  const info = setupLinuxBoot(mem, { kernel: fs.readFileSync(kernels.vmlinuz!), initrd, cmdline: 'console=ttyS0', vcpus: 4 });
  t.equal(info.kernelKind, 'bzimage');
  t.equal(info.entry, 0x100200);
  t.equal(info.zeroPage, ZERO_PAGE_START);
  t.ok(info.initrd && info.initrd.addr >= info.kernelEnd && info.initrd.size === initrd.length);
  t.equal(Buffer.from(mem.view(MPTABLE_START, 4)).toString('latin1'), '_MP_', 'MP table');
  t.equal(mem.readU64(BOOT_GDT_START + 8), 0x00af9b000000ffffn, 'GDT');
  t.equal(translate(mem, PML4_START, info.entry), info.entry, 'entry identity-mapped');
  t.equal(translate(mem, PML4_START, info.initrd!.addr), info.initrd!.addr, 'initrd identity-mapped');
  t.equal(mem.readU32(ZERO_PAGE_START + 0x228), CMDLINE_START);
});

t.test('vmlinux boot setup', needs(kernels.vmlinux), async (t) => {
  const mem = mem256();
  const info = setupLinuxBoot(mem, { kernel: fs.readFileSync(kernels.vmlinux!), cmdline: 'console=ttyS0', vcpus: 1 });
  t.equal(info.kernelKind, 'elf');
  t.equal(info.entry, 0x1000000);
  t.equal(info.initrd, undefined);
  t.ok(info.kernelEnd > info.entry);
});

t.test('refusals', needs(kernels.vmlinuz), async (t) => {
  const kernel = fs.readFileSync(kernels.vmlinuz!);
  t.throws(() => setupLinuxBoot(mem256(), { kernel: Buffer.from('not a kernel at all'.repeat(100)), cmdline: '', vcpus: 1 }),
    new BootError('kernel is neither an ELF x86-64 vmlinux nor a bzImage'));
  const big = Buffer.alloc(200 * MiB);
  t.throws(() => setupLinuxBoot(mem256(), { kernel, initrd: big, cmdline: '', vcpus: 1 }),
    { name: 'BootError', message: /^initrd \(209715200 bytes\) does not fit in guest memory/ });
  t.throws(() => setupLinuxBoot(mem256(), { kernel, initrd: new Uint8Array(0), cmdline: '', vcpus: 1 }), { message: /initrd is empty/ });
  const max = kernel.readUInt32LE(0x238);
  t.doesNotThrow(() => setupLinuxBoot(mem256(), { kernel, cmdline: 'x'.repeat(max), vcpus: 1 }), 'cmdline of exactly cmdline_size');
  t.throws(() => setupLinuxBoot(mem256(), { kernel, cmdline: 'x'.repeat(max + 1), vcpus: 1 }),
    { name: 'BootError', message: `kernel command line is ${max + 1} bytes, longer than the ${max} the kernel accepts` });
  t.throws(() => setupLinuxBoot(mem256(), { kernel, cmdline: 'a\0b', vcpus: 1 }), { message: /NUL/ });
  t.throws(() => setupLinuxBoot(GuestMemory.forTest(guestRegions((MIN_MEMORY_MIB - 1) * MiB)), { kernel, cmdline: '', vcpus: 1 }),
    { name: 'BootError', message: /memory too small/ });
  t.throws(() => setupLinuxBoot(mem256(), { kernel, cmdline: '', vcpus: 0 }), { name: 'BootError', message: /vCPU count 0/ });
  t.throws(() => setupLinuxBoot(mem256(), { kernel, cmdline: '', vcpus: 33 }), { name: 'BootError', message: /vCPU count 33/ });
  t.throws(() => setupLinuxBoot(GuestMemory.forTest(guestRegions(MIN_MEMORY_MIB * MiB)), { kernel, cmdline: '', vcpus: 1 }),
    { name: 'BootError', message: /kernel does not fit in guest memory/ }, 'the Debian kernel needs more than the floor');
});
