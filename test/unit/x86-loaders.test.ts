// Kernel loaders on the real Debian kernel (ELF vmlinux and bzImage) and on hand-made malformed images.
import fs from 'node:fs';
import t from 'tap';
import { GuestMemory } from '../../vmm/memory/guest-memory.js';
import { guestRegions, HIMEM_START } from '../../vmm/arch/x86_64/layout.js';
import { loadKernel } from '../../vmm/arch/x86_64/kernel.js';
import { BootError } from '../../vmm/arch/x86_64/errors.js';
import { elfLoads, findTestKernel, needs } from './x86-fixture.js';

const MiB = 1024 * 1024;
const kernels = findTestKernel();
const mem256 = (): GuestMemory => GuestMemory.forTest(guestRegions(256 * MiB));

t.test('vmlinux: every PT_LOAD segment lands at its p_paddr', needs(kernels.vmlinux), async (t) => {
  const file = fs.readFileSync(kernels.vmlinux!);
  const { entry, loads } = elfLoads(file);
  t.ok(loads.length >= 2, 'a vmlinux has several PT_LOAD segments');
  const mem = mem256();
  const k = loadKernel(mem, file);
  t.equal(k.kind, 'elf');
  t.equal(k.entry, Number(entry), 'e_entry is physical in a vmlinux');
  t.equal(k.entry, 0x100_0000, 'startup_64 at 16 MiB');
  t.equal(k.setupHeader, undefined);
  for (const s of loads) {
    const inGuest = mem.view(s.paddr, s.filesz);
    t.ok(Buffer.from(inGuest).equals(file.subarray(s.offset, s.offset + s.filesz)), `segment at 0x${s.paddr.toString(16)} matches the file`);
  }
  const end = Math.max(...loads.map((s) => s.paddr + s.memsz));
  t.ok(k.kernelEnd >= end && k.kernelEnd - end < 4096 && k.kernelEnd % 4096 === 0, 'kernelEnd is the page after the last segment');
  t.equal(k.loadAddr, Math.min(...loads.map((s) => s.paddr)));
});

t.test('bzImage: the protected-mode kernel is at 1 MiB, the 64-bit entry at +0x200', needs(kernels.vmlinuz), async (t) => {
  const file = fs.readFileSync(kernels.vmlinuz!);
  const setupSects = file[0x1f1]! || 4;
  const pm = (setupSects + 1) * 512;
  const mem = mem256();
  const k = loadKernel(mem, file);
  t.equal(k.kind, 'bzimage');
  t.equal(k.loadAddr, HIMEM_START);
  t.equal(k.entry, HIMEM_START + 0x200);
  t.ok(Buffer.from(mem.view(HIMEM_START, file.length - pm)).equals(file.subarray(pm)), 'bytes at 1 MiB equal the file after the setup');
  const payloadOffset = file.readUInt32LE(0x248);
  const payloadLength = file.readUInt32LE(0x24c);
  t.ok(
    Buffer.from(mem.view(HIMEM_START + payloadOffset, payloadLength)).equals(file.subarray(pm + payloadOffset, pm + payloadOffset + payloadLength)),
    'the compressed payload sits at 1 MiB + payload_offset',
  );
  const hdrEnd = 0x202 + file[0x201]!;
  t.ok(Buffer.from(k.setupHeader!).equals(file.subarray(0x1f1, hdrEnd)), 'setup header copied from 0x1f1 to its end');
  t.equal(k.initrdAddrMax, file.readUInt32LE(0x22c));
  t.equal(k.cmdlineMax, file.readUInt32LE(0x238));
  const pref = Number(file.readBigUInt64LE(0x258));
  const initSize = file.readUInt32LE(0x260);
  t.ok(k.kernelEnd >= pref + initSize, 'kernelEnd covers the decompressed kernel at pref_address + init_size');
  t.ok(k.kernelEnd < pref + initSize + 4096);
});

t.test('a kernel that does not fit in RAM is refused', needs(kernels.vmlinux, kernels.vmlinuz), async (t) => {
  const small = (): GuestMemory => GuestMemory.forTest(guestRegions(64 * MiB));
  t.throws(() => loadKernel(small(), fs.readFileSync(kernels.vmlinux!)), { name: 'BootError', message: /does not fit in guest memory/ });
  t.throws(() => loadKernel(small(), fs.readFileSync(kernels.vmlinuz!)), { name: 'BootError', message: /does not fit in guest memory/ });
});

t.test('bzImage header checks: LOADED_HIGH, XLF_KERNEL_64, protocol version, truncation', needs(kernels.vmlinuz), async (t) => {
  const file = fs.readFileSync(kernels.vmlinuz!);
  const patched = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(file);
    f(b);
    return b;
  };
  t.throws(() => loadKernel(mem256(), patched((b) => (b[0x211] = b[0x211]! & ~1))), { message: /LOADED_HIGH/ });
  t.throws(() => loadKernel(mem256(), patched((b) => b.writeUInt16LE(0, 0x236))), { message: /XLF_KERNEL_64/ });
  t.throws(() => loadKernel(mem256(), patched((b) => b.writeUInt16LE(0x0206, 0x206))), { message: /older than 2\.12/ });
  t.throws(() => loadKernel(mem256(), file.subarray(0, 0x400)), { message: /no protected-mode kernel/ });
  t.throws(() => loadKernel(mem256(), file.subarray(0, 0x210)), BootError);
});

/** A minimal ELF64 x86-64 executable with one PT_LOAD at `paddr` (virtual `vaddr`) of `code`, memsz `memsz`. */
function tinyElf(opts: { paddr: number; vaddr: bigint; entry: bigint; code: Uint8Array; memsz: number; machine?: number }): Buffer {
  const b = Buffer.alloc(0x78 + opts.code.length);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  b.writeUInt16LE(2, 0x10); // ET_EXEC
  b.writeUInt16LE(opts.machine ?? 62, 0x12);
  b.writeUInt32LE(1, 0x14);
  b.writeBigUInt64LE(opts.entry, 0x18);
  b.writeBigUInt64LE(0x40n, 0x20); // e_phoff
  b.writeUInt16LE(0x40, 0x34);
  b.writeUInt16LE(56, 0x36);
  b.writeUInt16LE(1, 0x38);
  b.writeUInt32LE(1, 0x40); // PT_LOAD
  b.writeUInt32LE(5, 0x44);
  b.writeBigUInt64LE(0x78n, 0x48);
  b.writeBigUInt64LE(opts.vaddr, 0x50);
  b.writeBigUInt64LE(BigInt(opts.paddr), 0x58);
  b.writeBigUInt64LE(BigInt(opts.code.length), 0x60);
  b.writeBigUInt64LE(BigInt(opts.memsz), 0x68);
  b.set(opts.code, 0x78);
  return b;
}

t.test('ELF: bss is zero-filled and a virtual e_entry maps through its segment', async (t) => {
  const mem = mem256();
  mem.fill(0x200000, 0x3000, 0xaa);
  const code = Uint8Array.from([0xf4, 0x90, 0x90, 0x90]);
  const vaddr = 0xffffffff81000000n;
  const k = loadKernel(mem, tinyElf({ paddr: 0x200000, vaddr, entry: vaddr + 2n, code, memsz: 0x2000 }));
  t.same([...mem.view(0x200000, 4)], [...code]);
  t.ok(mem.view(0x200004, 0x2000 - 4).every((x) => x === 0), 'memsz beyond filesz is zeroed');
  t.equal(mem.readU8(0x202000), 0xaa, 'nothing written past memsz');
  t.equal(k.entry, 0x200002);
  t.equal(k.kernelEnd, 0x202000);
});

t.test('ELF validation errors name the problem', async (t) => {
  const code = Uint8Array.of(0xf4);
  const ok = (): Buffer => tinyElf({ paddr: 0x200000, vaddr: 0x200000n, entry: 0x200000n, code, memsz: 1 });
  t.throws(() => loadKernel(mem256(), tinyElf({ paddr: 0x200000, vaddr: 0n, entry: 0n, code, memsz: 1, machine: 183 })), { message: /machine 183 is not x86-64/ });
  const class32 = ok();
  class32[4] = 1;
  t.throws(() => loadKernel(mem256(), class32), { message: /not ELFCLASS64/ });
  const badPhnum = ok();
  badPhnum.writeUInt16LE(1000, 0x38);
  t.throws(() => loadKernel(mem256(), badPhnum), { message: /e_phnum/ });
  const phPastEnd = ok();
  phPastEnd.writeBigUInt64LE(BigInt(phPastEnd.length - 8), 0x20);
  t.throws(() => loadKernel(mem256(), phPastEnd), { message: /program headers/ });
  const segPastEnd = ok();
  segPastEnd.writeBigUInt64LE(0x1000n, 0x60);
  segPastEnd.writeBigUInt64LE(0x1000n, 0x68);
  t.throws(() => loadKernel(mem256(), segPastEnd), { message: /extends past the end of the file/ });
  t.throws(() => loadKernel(mem256(), tinyElf({ paddr: 0x200000, vaddr: 0x200000n, entry: 0x900000n, code, memsz: 1 })), { message: /entry point 0x900000 is in no PT_LOAD/ });
  t.throws(() => loadKernel(mem256(), tinyElf({ paddr: 0xfff_f000, vaddr: 0n, entry: 0xfff_f000n, code, memsz: 0x2000 })), { message: /does not fit in guest memory/ });
  t.throws(() => loadKernel(mem256(), ok().subarray(0, 0x20)), { message: /too short/ });
});

t.test('garbage is neither ELF nor bzImage', async (t) => {
  const garbage = Buffer.alloc(0x10000, 0x5a);
  t.throws(() => loadKernel(mem256(), garbage), { name: 'BootError', message: 'kernel is neither an ELF x86-64 vmlinux nor a bzImage' });
  t.throws(() => loadKernel(mem256(), new Uint8Array(0)), { message: 'kernel is neither an ELF x86-64 vmlinux nor a bzImage' });
});
