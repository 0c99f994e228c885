// Zero page, command line, initrd placement and e820 as Linux reads them, after setupLinuxBoot on the real kernel.
import fs from 'node:fs';
import t from 'tap';
import { GuestMemory } from '../../vmm/memory/guest-memory.js';
import { guestRegions, CMDLINE_START, ZERO_PAGE_START } from '../../vmm/arch/x86_64/layout.js';
import { setupLinuxBoot } from '../../vmm/arch/x86_64/boot.js';
import { buildE820 } from '../../vmm/arch/x86_64/e820.js';
import { findTestKernel, needs } from './x86-fixture.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const kernels = findTestKernel();
const CMDLINE = 'console=ttyS0 reboot=k panic=1 root=/dev/vda ro';

function readE820(mem: GuestMemory): Array<{ addr: number; size: number; type: number }> {
  const n = mem.readU8(ZERO_PAGE_START + 0x1e8);
  return Array.from({ length: n }, (_, i) => {
    const e = ZERO_PAGE_START + 0x2d0 + i * 20;
    return { addr: Number(mem.readU64(e)), size: Number(mem.readU64(e + 8)), type: mem.readU32(e + 16) };
  });
}

function readCString(mem: GuestMemory, addr: number, max: number): string {
  const b = mem.view(addr, max);
  const nul = b.indexOf(0);
  return Buffer.from(b.subarray(0, nul)).toString('latin1');
}

t.test('bzImage zero page: header, loader fields, command line, initrd', needs(kernels.vmlinuz), async (t) => {
  const file = fs.readFileSync(kernels.vmlinuz!);
  const mem = GuestMemory.forTest(guestRegions(256 * MiB));
  const initrd = Buffer.alloc(3 * MiB + 123, 0x42);
  initrd.write('070701', 0);
  const info = setupLinuxBoot(mem, { kernel: file, initrd, cmdline: CMDLINE, vcpus: 2 });
  const zp = (off: number): number => ZERO_PAGE_START + off;
  t.equal(info.zeroPage, ZERO_PAGE_START);
  t.equal(mem.readU16(zp(0x1fe)), 0xaa55, 'boot_flag');
  t.equal(mem.readU32(zp(0x202)), 0x53726448, '"HdrS"');
  t.equal(mem.readU16(zp(0x206)), file.readUInt16LE(0x206), 'version copied from the kernel');
  t.equal(mem.readU16(zp(0x236)), file.readUInt16LE(0x236), 'xloadflags copied');
  t.equal(mem.readU32(zp(0x260)), file.readUInt32LE(0x260), 'init_size copied');
  t.equal(mem.readU8(zp(0x210)), 0xff, 'type_of_loader');
  const loadflags = mem.readU8(zp(0x211));
  t.equal(loadflags & 0x81, 0x81, 'LOADED_HIGH and CAN_USE_HEAP');
  t.equal(mem.readU16(zp(0x224)), 0xfe00, 'heap_end_ptr');
  t.equal(mem.readU32(zp(0x214)), 0x100000, 'code32_start');
  t.equal(mem.readU32(zp(0x228)), CMDLINE_START, 'cmd_line_ptr');
  t.equal(mem.readU32(zp(0x0c8)), 0, 'ext_cmd_line_ptr');
  t.equal(readCString(mem, CMDLINE_START, 4096), CMDLINE, 'command line at cmd_line_ptr');
  t.equal(mem.readU8(CMDLINE_START + CMDLINE.length), 0, 'NUL-terminated');

  const image = mem.readU32(zp(0x218));
  const size = mem.readU32(zp(0x21c));
  t.same(info.initrd, { addr: image, size });
  t.equal(size, initrd.length, 'ramdisk_size');
  t.equal(image % 4096, 0, 'ramdisk_image is page aligned');
  t.ok(image >= info.kernelEnd, 'initrd above the kernel');
  const ceiling = Math.min(file.readUInt32LE(0x22c) + 1, 256 * MiB);
  t.ok(image + size <= ceiling && ceiling - (image + size) < 8192, 'initrd as high as allowed');
  t.ok(Buffer.from(mem.view(image, size)).equals(initrd), 'initrd bytes in place');
  t.equal(mem.readU32(zp(0x0c0)), 0);
  t.equal(mem.readU32(zp(0x0c4)), 0);

  t.same(readE820(mem), [
    { addr: 0, size: 0x9fc00, type: 1 },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: 2 },
    { addr: 0x100000, size: 256 * MiB - 0x100000, type: 1 },
  ]);
});

t.test('vmlinux zero page: synthesized header', needs(kernels.vmlinux), async (t) => {
  const mem = GuestMemory.forTest(guestRegions(256 * MiB));
  mem.fill(ZERO_PAGE_START, 4096, 0xee);
  const info = setupLinuxBoot(mem, { kernel: fs.readFileSync(kernels.vmlinux!), cmdline: 'console=ttyS0', vcpus: 1 });
  const zp = (off: number): number => ZERO_PAGE_START + off;
  t.equal(info.kernelKind, 'elf');
  t.equal(mem.readU16(zp(0x1fe)), 0xaa55);
  t.equal(mem.readU32(zp(0x202)), 0x53726448);
  t.equal(mem.readU8(zp(0x210)), 0xff);
  t.equal(mem.readU32(zp(0x230)), 16 * MiB, 'kernel_alignment');
  t.equal(mem.readU32(zp(0x238)), 2047, 'cmdline_size');
  t.equal(mem.readU32(zp(0x228)), CMDLINE_START);
  t.equal(mem.readU32(zp(0x218)), 0, 'no ramdisk_image');
  t.equal(mem.readU32(zp(0x21c)), 0, 'no ramdisk_size');
  t.equal(info.initrd, undefined);
  t.equal(mem.readU8(zp(0x1f0)), 0, 'the zero page is cleared before it is built');
  t.equal(readE820(mem).length, 3);
});

t.test('e820 splits RAM around the EBDA and the 32-bit gap', async (t) => {
  const mem = GuestMemory.forTest(guestRegions(3 * GiB + 64 * MiB));
  t.same(buildE820(mem), [
    { addr: 0, size: 0x9fc00, type: 1 },
    { addr: 0x9fc00, size: 0x60400, type: 2 },
    { addr: 0x100000, size: 0xc000_0000 - 0x100000, type: 1 },
    { addr: 4 * GiB, size: 64 * MiB, type: 1 },
  ]);
  const total = buildE820(mem).filter((e) => e.type === 1).reduce((n, e) => n + e.size, 0);
  t.equal(total, 3 * GiB + 64 * MiB - 0x60400, 'all RAM but the legacy window is usable');
});
