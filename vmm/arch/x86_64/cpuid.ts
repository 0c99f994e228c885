// Per-vCPU CPUID from KVM's supported list: APIC ids and topology (one thread per core), hypervisor leaves.
import type { CpuidEntry } from '../../kvm/types.js';
import { BootError } from './errors.js';
import { MAX_VCPUS } from './layout.js';

/** kvm_cpuid_entry2.flags: the entry is selected by (function, index), not by function alone. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 0x1;

export const LEAF_VENDOR = 0x0;
export const LEAF_FEATURES = 0x1;
export const LEAF_CACHE_PARAMS = 0x4;
export const LEAF_THERMAL_POWER = 0x6;
export const LEAF_EXT_TOPOLOGY = 0xb;
export const LEAF_V2_EXT_TOPOLOGY = 0x1f;
export const LEAF_KVM_SIGNATURE = 0x40000000;
/** KVM_CPUID_FEATURES: the paravirt feature bits, kept as KVM reports them. */
export const LEAF_KVM_FEATURES = 0x40000001;
export const LEAF_EXT_FEATURES = 0x80000001;
export const LEAF_AMD_ADDR_SIZES = 0x80000008;
export const LEAF_AMD_CACHE_TOPOLOGY = 0x8000001d;
export const LEAF_AMD_EXT_APIC_ID = 0x8000001e;

// Leaf 1.
/** EBX[15:8]: CLFLUSH line size in 8-byte units (8 = 64 bytes). */
export const CLFLUSH_LINE_UNITS = 8;
const EBX_BRAND_INDEX_MASK = 0xff;
const EBX_CLFLUSH_SHIFT = 8;
const EBX_LOGICAL_COUNT_SHIFT = 16;
const EBX_APIC_ID_SHIFT = 24;
/** ECX[24]: TSC deadline timer mode of the local APIC. */
export const ECX_TSC_DEADLINE = 1 << 24;
/** ECX[31]: running under a hypervisor. */
export const ECX_HYPERVISOR = 1 << 31;
/** EDX[28]: HTT, more than one logical processor per package (the EBX count field is valid). */
export const EDX_HTT = 1 << 28;

// Leaf 4 / 0x8000001d.
const CACHE_TYPE_MASK = 0x1f;
const CACHE_LEVEL_SHIFT = 5;
const CACHE_LEVEL_MASK = 0x7;
const CACHE_SHARING_SHIFT = 14;
const CACHE_SHARING_MASK = 0xfff;
const CACHE_CORES_SHIFT = 26;
const CACHE_CORES_MASK = 0x3f;
/** The last-level cache every core shares; levels below are private to a core. */
const SHARED_CACHE_LEVEL = 3;

// Leaf 6: only ARAT (the APIC timer keeps running in idle) is true of a vCPU; power management is the host's.
const LEAF6_EAX_ARAT = 1 << 2;

// Leaf 0xb / 0x1f level types.
const TOPOLOGY_LEVEL_INVALID = 0;
const TOPOLOGY_LEVEL_SMT = 1;
const TOPOLOGY_LEVEL_CORE = 2;
const TOPOLOGY_LEVEL_TYPE_SHIFT = 8;

// AMD.
/** 0x80000001 ECX[1]: CmpLegacy, cores are reported through 0x80000008, not as hyper-threads. */
const AMD_ECX_CMP_LEGACY = 1 << 1;
const AMD_NC_MASK = 0xff;
const AMD_APIC_ID_SIZE_SHIFT = 12;
const AMD_APIC_ID_SIZE_MASK = 0xf;

/** "KVMKVMKVM\0\0\0" as the three little-endian registers of leaf 0x40000000. */
export const KVM_SIGNATURE_EBX = 0x4b4d564b; // "KVMK"
export const KVM_SIGNATURE_ECX = 0x564b4d56; // "VMKV"
export const KVM_SIGNATURE_EDX = 0x0000004d; // "M\0\0\0"

const VENDOR_AMD = 'AuthenticAMD';
const VENDOR_HYGON = 'HygonGenuine';

export interface CpuidOptions {
  /**
   * Whether to advertise the TSC deadline timer (the caller checks KVM_CAP_TSC_DEADLINE_TIMER, which KVM's
   * supported list may not show). Left out: keep what the supported list says.
   */
  readonly tscDeadline?: boolean;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Bits of the x2APIC id that number the cores of a package with `count` cores. */
function coreIdBits(count: number): number {
  return Math.log2(nextPow2(count));
}

function setField(reg: number, shift: number, mask: number, value: number): number {
  return ((reg & ~(mask << shift)) | ((value & mask) << shift)) >>> 0;
}

function vendorOf(entries: readonly CpuidEntry[]): string {
  const leaf0 = entries.find((e) => e.function === LEAF_VENDOR);
  if (!leaf0) return '';
  const b = Buffer.alloc(12);
  b.writeUInt32LE(leaf0.ebx >>> 0, 0);
  b.writeUInt32LE(leaf0.edx >>> 0, 4);
  b.writeUInt32LE(leaf0.ecx >>> 0, 8);
  return b.toString('latin1');
}

/** The three subleaves of an extended topology leaf: SMT (1 thread per core), core (vcpuCount cores), end. */
function topologyLeaf(fn: number, vcpuId: number, vcpuCount: number): CpuidEntry[] {
  const flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  const level = (type: number, index: number): number => ((type << TOPOLOGY_LEVEL_TYPE_SHIFT) | index) >>> 0;
  return [
    { function: fn, index: 0, flags, eax: 0, ebx: 1, ecx: level(TOPOLOGY_LEVEL_SMT, 0), edx: vcpuId },
    { function: fn, index: 1, flags, eax: coreIdBits(vcpuCount), ebx: vcpuCount, ecx: level(TOPOLOGY_LEVEL_CORE, 1), edx: vcpuId },
    { function: fn, index: 2, flags, eax: 0, ebx: 0, ecx: level(TOPOLOGY_LEVEL_INVALID, 2), edx: vcpuId },
  ];
}

/**
 * The CPUID table for vCPU `vcpuId` of `vcpuCount`, derived from KVM_GET_SUPPORTED_CPUID's `supported`
 * (which is not modified). Each vCPU is one core of one package with one thread; its APIC id is its index.
 */
export function vcpuCpuid(supported: readonly CpuidEntry[], vcpuId: number, vcpuCount: number, opts: CpuidOptions = {}): CpuidEntry[] {
  if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > MAX_VCPUS) {
    throw new BootError(`vCPU count ${vcpuCount} out of range 1..${MAX_VCPUS}`);
  }
  if (!Number.isInteger(vcpuId) || vcpuId < 0 || vcpuId >= vcpuCount) {
    throw new BootError(`vCPU id ${vcpuId} out of range 0..${vcpuCount - 1}`);
  }
  const amd = [VENDOR_AMD, VENDOR_HYGON].includes(vendorOf(supported));
  const logical = nextPow2(vcpuCount);
  const out: CpuidEntry[] = [];
  const replaced = new Set<number>();

  for (const src of supported) {
    const e: CpuidEntry = { ...src };
    switch (e.function) {
      case LEAF_FEATURES: {
        let ebx = e.ebx & EBX_BRAND_INDEX_MASK;
        ebx |= CLFLUSH_LINE_UNITS << EBX_CLFLUSH_SHIFT;
        ebx |= (logical & 0xff) << EBX_LOGICAL_COUNT_SHIFT;
        ebx |= vcpuId << EBX_APIC_ID_SHIFT;
        e.ebx = ebx >>> 0;
        e.ecx = (e.ecx | ECX_HYPERVISOR) >>> 0;
        if (opts.tscDeadline === true) e.ecx = (e.ecx | ECX_TSC_DEADLINE) >>> 0;
        if (opts.tscDeadline === false) e.ecx = (e.ecx & ~ECX_TSC_DEADLINE) >>> 0;
        e.edx = (vcpuCount > 1 ? e.edx | EDX_HTT : e.edx & ~EDX_HTT) >>> 0;
        break;
      }
      case LEAF_CACHE_PARAMS:
        if ((e.eax & CACHE_TYPE_MASK) !== 0) {
          const lvl = (e.eax >>> CACHE_LEVEL_SHIFT) & CACHE_LEVEL_MASK;
          const sharing = lvl >= SHARED_CACHE_LEVEL ? logical - 1 : 0;
          e.eax = setField(e.eax, CACHE_SHARING_SHIFT, CACHE_SHARING_MASK, sharing);
          e.eax = setField(e.eax, CACHE_CORES_SHIFT, CACHE_CORES_MASK, Math.min(logical, CACHE_CORES_MASK + 1) - 1);
        }
        break;
      case LEAF_THERMAL_POWER:
        e.eax &= LEAF6_EAX_ARAT;
        e.ebx = 0;
        e.ecx = 0;
        e.edx = 0;
        break;
      case LEAF_EXT_TOPOLOGY:
      case LEAF_V2_EXT_TOPOLOGY:
        if (!replaced.has(e.function)) out.push(...topologyLeaf(e.function, vcpuId, vcpuCount));
        replaced.add(e.function);
        continue;
      case LEAF_KVM_SIGNATURE:
        e.eax = LEAF_KVM_FEATURES;
        e.ebx = KVM_SIGNATURE_EBX;
        e.ecx = KVM_SIGNATURE_ECX;
        e.edx = KVM_SIGNATURE_EDX;
        replaced.add(e.function);
        break;
      case LEAF_EXT_FEATURES:
        if (amd) e.ecx = (vcpuCount > 1 ? e.ecx | AMD_ECX_CMP_LEGACY : e.ecx & ~AMD_ECX_CMP_LEGACY) >>> 0;
        break;
      case LEAF_AMD_ADDR_SIZES:
        if (amd) {
          e.ecx = setField(e.ecx, 0, AMD_NC_MASK, vcpuCount - 1);
          e.ecx = setField(e.ecx, AMD_APIC_ID_SIZE_SHIFT, AMD_APIC_ID_SIZE_MASK, coreIdBits(vcpuCount));
        }
        break;
      case LEAF_AMD_CACHE_TOPOLOGY:
        if (amd && (e.eax & CACHE_TYPE_MASK) !== 0) {
          const lvl = (e.eax >>> CACHE_LEVEL_SHIFT) & CACHE_LEVEL_MASK;
          e.eax = setField(e.eax, CACHE_SHARING_SHIFT, CACHE_SHARING_MASK, lvl >= SHARED_CACHE_LEVEL ? vcpuCount - 1 : 0);
        }
        break;
      case LEAF_AMD_EXT_APIC_ID:
        if (amd) {
          e.eax = vcpuId; // extended APIC id
          e.ebx = vcpuId & 0xff; // core id; threads per core - 1 = 0 in [15:8]
          e.ecx = 0; // node 0, one node per package
          e.edx = 0;
        }
        break;
      default:
        break;
    }
    out.push(e);
  }
  if (!replaced.has(LEAF_KVM_SIGNATURE)) {
    out.push({
      function: LEAF_KVM_SIGNATURE, index: 0, flags: 0, eax: LEAF_KVM_FEATURES,
      ebx: KVM_SIGNATURE_EBX, ecx: KVM_SIGNATURE_ECX, edx: KVM_SIGNATURE_EDX,
    });
  }
  return out;
}
