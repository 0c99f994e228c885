// Checks the cached Debian kernel: an x86-64 ELF vmlinux, a bzImage vmlinuz, and module dependency order.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { ensureKernel } from '../../images/kernel.js';
import { ModuleIndex } from '../../images/kernel-modules.js';
import { bzImagePayload, HEADER_MAGIC, HEADER_MAGIC_OFFSET } from '../../images/bzimage.js';

const ELF_EM_OFFSET = 0x12;
const EM_X86_64 = 62;
const ELFCLASS64 = 2;

t.test('ensureKernel gives an ELF x86-64 vmlinux and a bzImage vmlinuz', async (t) => {
  const k = await ensureKernel();
  t.match(k.version, /^\d+\.\d+\.\d+-\d+-amd64$/);
  const elf = fs.readFileSync(k.vmlinux);
  t.same(elf.subarray(0, 4), Buffer.from([0x7f, 0x45, 0x4c, 0x46]), 'ELF magic');
  t.equal(elf[4], ELFCLASS64, '64-bit ELF');
  t.equal(elf.readUInt16LE(ELF_EM_OFFSET), EM_X86_64, 'e_machine is x86-64');
  const bz = fs.readFileSync(k.vmlinuz);
  t.equal(bz.toString('latin1', HEADER_MAGIC_OFFSET, HEADER_MAGIC_OFFSET + 4), HEADER_MAGIC);
  t.equal(bzImagePayload(bz, k.vmlinuz).expectedSize, elf.length, 'vmlinux has the size the bzImage announces');
  t.ok(fs.existsSync(path.join(k.modulesDir, 'kernel', 'arch', 'x86', 'kvm', 'kvm-amd.ko')), 'kvm-amd module present');
});

t.test('a second ensureKernel call finds everything in place and changes nothing', async (t) => {
  const k = await ensureKernel();
  const before = fs.statSync(k.vmlinux).mtimeMs;
  const lines: string[] = [];
  const again = await ensureKernel((l) => lines.push(l));
  t.same(again, k);
  t.same(lines, []);
  t.equal(fs.statSync(k.vmlinux).mtimeMs, before);
});

t.test('module load order puts dependencies first and skips built-ins', async (t) => {
  const k = await ensureKernel();
  const index = ModuleIndex.load(k.modulesDir);
  const order = index.loadOrder(['ext4', 'kvm_amd']).map((m) => m.name);
  for (const [dep, user] of [['jbd2', 'ext4'], ['mbcache', 'ext4'], ['kvm', 'kvm_amd']] as const) {
    t.ok(order.indexOf(dep) >= 0 && order.indexOf(dep) < order.indexOf(user), `${dep} before ${user}`);
  }
  t.equal(new Set(order).size, order.length, 'each module once');
  t.throws(() => index.loadOrder(['no_such_module_kq']), /no_such_module_kq/);
  t.same(index.loadOrder(['no_such_module_kq'], new Set(['no_such_module_kq'])), []);
});
