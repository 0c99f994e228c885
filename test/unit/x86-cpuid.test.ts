// Per-vCPU CPUID derived from a KVM_GET_SUPPORTED_CPUID list: APIC ids, topology, hypervisor and KVM leaves.
import t from 'tap';
import type { CpuidEntry } from '../../vmm/kvm/types.js';
import { vcpuCpuid } from '../../vmm/arch/x86_64/cpuid.js';

const SIG = 1; // KVM_CPUID_FLAG_SIGNIFCANT_INDEX
const e = (fn: number, index: number, flags: number, eax: number, ebx: number, ecx: number, edx: number): CpuidEntry =>
  ({ function: fn, index, flags, eax, ebx, ecx, edx });

/** What KVM_GET_SUPPORTED_CPUID returns on an Intel host (host topology: 8 cores x 2 threads). */
const INTEL: CpuidEntry[] = [
  e(0x0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
  e(0x1, 0, 0, 0x000806f8, 0x05100800, 0x76fa3223, 0x078bfbff),
  e(0x4, 0, SIG, 0x1c004121, 0x02c0003f, 0x3f, 0),
  e(0x4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0),
  e(0x4, 2, SIG, 0x1c004143, 0x03c0003f, 0x7ff, 0),
  e(0x4, 3, SIG, 0x1c03c163, 0x03c0003f, 0xbfff, 4),
  e(0x4, 4, SIG, 0, 0, 0, 0),
  e(0x6, 0, 0, 0x000004f7, 2, 9, 0),
  e(0xb, 0, SIG, 1, 2, 0x100, 5),
  e(0xb, 1, SIG, 4, 16, 0x201, 5),
  e(0x1f, 0, SIG, 1, 2, 0x100, 5),
  e(0x1f, 1, SIG, 4, 16, 0x201, 5),
  e(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
  e(0x40000001, 0, 0, 0x01007afb, 0, 0, 0),
  e(0x80000000, 0, 0, 0x80000008, 0, 0, 0),
  e(0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800),
  e(0x80000008, 0, 0, 0x3027, 0, 0, 0),
];

/** The same from an AMD host, without the KVM signature leaf. */
const AMD: CpuidEntry[] = [
  e(0x0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65),
  e(0x1, 0, 0, 0x00a20f10, 0x03100800, 0x76d8320b, 0x178bfbff),
  e(0x80000000, 0, 0, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65),
  e(0x80000001, 0, 0, 0x00a20f10, 0, 0x75c237ff, 0x2fd3fbff),
  e(0x80000008, 0, 0, 0x3030, 0, 0x700f, 0),
  e(0x8000001d, 0, SIG, 0x00004121, 0x01c0003f, 0x3f, 0),
  e(0x8000001d, 3, SIG, 0x0003c163, 0x03c0003f, 0x7fff, 1),
  e(0x8000001e, 0, 0, 0x0000000b, 0x00000105, 0, 0),
];

const find = (list: CpuidEntry[], fn: number, index = 0): CpuidEntry => {
  const hit = list.find((x) => x.function === fn && x.index === index);
  if (!hit) throw new Error(`no leaf 0x${fn.toString(16)}.${index}`);
  return hit;
};

t.test('leaf 1: APIC id per vCPU, CLFLUSH size, logical count, hypervisor and HTT bits', async (t) => {
  for (let id = 0; id < 4; id++) {
    const l1 = find(vcpuCpuid(INTEL, id, 4), 1);
    t.equal(l1.ebx >>> 24, id, `vCPU ${id} initial APIC id`);
    t.equal((l1.ebx >>> 8) & 0xff, 8, 'CLFLUSH 64 bytes');
    t.equal((l1.ebx >>> 16) & 0xff, 4, 'logical processors per package');
    t.ok(l1.ecx & 0x80000000, 'hypervisor bit');
    t.ok(l1.edx & (1 << 28), 'HTT with several vCPUs');
    t.equal(l1.eax, 0x000806f8, 'signature kept');
  }
  const one = find(vcpuCpuid(INTEL, 0, 1), 1);
  t.equal((one.ebx >>> 16) & 0xff, 1);
  t.equal(one.edx & (1 << 28), 0, 'no HTT for one vCPU');
  t.equal((find(vcpuCpuid(INTEL, 2, 3), 1).ebx >>> 16) & 0xff, 4, 'count rounded up to a power of two');
});

t.test('TSC deadline follows the caller, else the supported list', async (t) => {
  const bit = (opts?: { tscDeadline?: boolean }): number => find(vcpuCpuid(INTEL, 0, 1, opts), 1).ecx & (1 << 24);
  t.equal(bit(), 0, 'KVM did not list it');
  t.not(bit({ tscDeadline: true }), 0);
  const withBit = INTEL.map((x) => (x.function === 1 ? { ...x, ecx: x.ecx | (1 << 24) } : x));
  t.not(find(vcpuCpuid(withBit, 0, 1), 1).ecx & (1 << 24), 0);
  t.equal(find(vcpuCpuid(withBit, 0, 1, { tscDeadline: false }), 1).ecx & (1 << 24), 0);
});

t.test('leaf 4: private L1/L2, L3 shared by all vCPUs, core count', async (t) => {
  const out = vcpuCpuid(INTEL, 1, 4);
  for (const i of [0, 1, 2]) t.equal((find(out, 4, i).eax >>> 14) & 0xfff, 0, `cache ${i} has one thread`);
  t.equal((find(out, 4, 3).eax >>> 14) & 0xfff, 3, 'L3 shared by 4');
  for (const i of [0, 1, 2, 3]) t.equal(find(out, 4, i).eax >>> 26, 3, 'cores per package - 1');
  t.equal(find(out, 4, 3).eax & 0x3fff, 0x0163, 'type and level kept');
  t.same(find(out, 4, 4), INTEL[6], 'the terminating subleaf is unchanged');
});

t.test('leaf 6: power management hidden, ARAT kept', async (t) => {
  t.same(find(vcpuCpuid(INTEL, 0, 2), 6), e(6, 0, 0, 4, 0, 0, 0));
});

t.test('leaves 0xb and 0x1f: one thread per core, vcpuCount cores, x2APIC id', async (t) => {
  const out = vcpuCpuid(INTEL, 3, 4);
  for (const fn of [0xb, 0x1f]) {
    const sub = out.filter((x) => x.function === fn);
    t.same(sub.map((x) => x.index), [0, 1, 2], `0x${fn.toString(16)} has SMT, core and terminating subleaves`);
    t.same(find(out, fn, 0), e(fn, 0, SIG, 0, 1, 0x100, 3));
    t.same(find(out, fn, 1), e(fn, 1, SIG, 2, 4, 0x201, 3));
    t.same(find(out, fn, 2), e(fn, 2, SIG, 0, 0, 2, 3));
  }
});

t.test('KVM signature leaf and features leaf', async (t) => {
  for (const [name, list] of [['intel', INTEL], ['amd', AMD]] as const) {
    const out = vcpuCpuid(list, 0, 1);
    const sig = find(out, 0x40000000);
    const b = Buffer.alloc(12);
    b.writeUInt32LE(sig.ebx, 0);
    b.writeUInt32LE(sig.ecx, 4);
    b.writeUInt32LE(sig.edx, 8);
    t.equal(b.toString('latin1'), 'KVMKVMKVM\0\0\0', `${name}: signature`);
    t.equal(sig.eax, 0x40000001, `${name}: max hypervisor leaf`);
    t.equal(out.filter((x) => x.function === 0x40000000).length, 1, `${name}: one signature leaf`);
  }
  t.same(find(vcpuCpuid(INTEL, 0, 1), 0x40000001), find(INTEL, 0x40000001), 'KVM features kept');
});

t.test('AMD: extended APIC id, core count, cache sharing, CmpLegacy', async (t) => {
  const out = vcpuCpuid(AMD, 2, 4);
  t.same(find(out, 0x8000001e), e(0x8000001e, 0, 0, 2, 2, 0, 0));
  t.equal(find(out, 0x80000008).ecx & 0xff, 3, 'NC = cores - 1');
  t.equal((find(out, 0x80000008).ecx >>> 12) & 0xf, 2, 'APIC id core bits');
  t.equal(find(out, 0x80000008).eax, 0x3030, 'address sizes kept');
  t.equal((find(out, 0x8000001d, 0).eax >>> 14) & 0xfff, 0, 'L1 private');
  t.equal((find(out, 0x8000001d, 3).eax >>> 14) & 0xfff, 3, 'L3 shared by 4');
  t.ok(find(out, 0x80000001).ecx & 2, 'CmpLegacy with several cores');
  t.equal(find(vcpuCpuid(AMD, 0, 1), 0x80000001).ecx & 2, 0, 'no CmpLegacy for one core');
  t.equal(find(vcpuCpuid(INTEL, 0, 4), 0x80000001).ecx, 0x121, 'Intel extended features untouched');
});

t.test('pure: the supported list is not modified; bad ids are refused', async (t) => {
  const before = structuredClone(INTEL);
  vcpuCpuid(INTEL, 1, 2, { tscDeadline: true });
  t.same(INTEL, before);
  t.throws(() => vcpuCpuid(INTEL, 2, 2), { name: 'BootError', message: /vCPU id 2 out of range/ });
  t.throws(() => vcpuCpuid(INTEL, 0, 0), { name: 'BootError' });
  t.throws(() => vcpuCpuid(INTEL, 0, 33), { name: 'BootError' });
  t.throws(() => vcpuCpuid(INTEL, -1, 2), { name: 'BootError' });
});
