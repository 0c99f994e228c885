// Loads an ELF64 x86-64 vmlinux: validates the headers and copies each PT_LOAD segment to its p_paddr.
import type { GuestMemory } from '../../memory/guest-memory.js';
import { BootError } from './errors.js';
import { DEFAULT_INITRD_ADDR_MAX, PAGE_SIZE } from './layout.js';
import { DEFAULT_CMDLINE_SIZE } from './boot-params.js';
import { alignUp, type LoadedKernel } from './loaded-kernel.js';

const EI_CLASS = 4;
const EI_DATA = 5;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const E_TYPE = 0x10;
const E_MACHINE = 0x12;
const E_ENTRY = 0x18;
const E_PHOFF = 0x20;
const E_PHENTSIZE = 0x36;
const E_PHNUM = 0x38;
const ELF64_EHDR_SIZE = 0x40;
const ET_EXEC = 2;
const ET_DYN = 3;
const EM_X86_64 = 62;
const PT_LOAD = 1;
const ELF64_PHDR_SIZE = 56;
/** An upper bound on program headers: a vmlinux has a handful; anything huge is a corrupt file. */
const MAX_PHDRS = 256;
// Offsets inside an Elf64_Phdr.
const P_TYPE = 0x00;
const P_OFFSET = 0x08;
const P_VADDR = 0x10;
const P_PADDR = 0x18;
const P_FILESZ = 0x20;
const P_MEMSZ = 0x28;

/** The 4 bytes every ELF file starts with. */
export const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46);

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= ELF_MAGIC.length && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

interface Segment {
  index: number;
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
}

function u64(view: DataView, off: number, what: string): number {
  const v = view.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BootError(`kernel ELF: ${what} 0x${v.toString(16)} is out of range`);
  return Number(v);
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/** Validates `bytes` as an x86-64 vmlinux, loads its PT_LOAD segments into `mem`, and reports the entry point. */
export function loadElfKernel(mem: GuestMemory, bytes: Uint8Array): LoadedKernel {
  if (bytes.length < ELF64_EHDR_SIZE || !isElf(bytes)) throw new BootError('kernel ELF: file too short or bad magic');
  if (bytes[EI_CLASS] !== ELFCLASS64) throw new BootError(`kernel ELF: class ${bytes[EI_CLASS]} is not ELFCLASS64`);
  if (bytes[EI_DATA] !== ELFDATA2LSB) throw new BootError(`kernel ELF: data encoding ${bytes[EI_DATA]} is not little-endian`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(E_TYPE, true);
  if (type !== ET_EXEC && type !== ET_DYN) throw new BootError(`kernel ELF: type ${type} is not an executable`);
  const machine = view.getUint16(E_MACHINE, true);
  if (machine !== EM_X86_64) throw new BootError(`kernel ELF: machine ${machine} is not x86-64 (${EM_X86_64})`);
  const entry = view.getBigUint64(E_ENTRY, true);
  const phoff = u64(view, E_PHOFF, 'e_phoff');
  const phentsize = view.getUint16(E_PHENTSIZE, true);
  const phnum = view.getUint16(E_PHNUM, true);
  if (phentsize !== ELF64_PHDR_SIZE) throw new BootError(`kernel ELF: e_phentsize ${phentsize} is not ${ELF64_PHDR_SIZE}`);
  if (phnum === 0 || phnum > MAX_PHDRS) throw new BootError(`kernel ELF: e_phnum ${phnum} out of range 1..${MAX_PHDRS}`);
  if (phoff > bytes.length || phnum * phentsize > bytes.length - phoff) {
    throw new BootError(`kernel ELF: program headers (${phnum} at ${hex(phoff)}) extend past the end of the file`);
  }

  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (view.getUint32(ph + P_TYPE, true) !== PT_LOAD) continue;
    const seg: Segment = {
      index: i,
      offset: u64(view, ph + P_OFFSET, 'p_offset'),
      vaddr: view.getBigUint64(ph + P_VADDR, true),
      paddr: u64(view, ph + P_PADDR, 'p_paddr'),
      filesz: u64(view, ph + P_FILESZ, 'p_filesz'),
      memsz: u64(view, ph + P_MEMSZ, 'p_memsz'),
    };
    if (seg.filesz > seg.memsz) throw new BootError(`kernel ELF: segment ${i} has p_filesz > p_memsz`);
    if (seg.offset > bytes.length || seg.filesz > bytes.length - seg.offset) {
      throw new BootError(`kernel ELF: segment ${i} (${hex(seg.offset)} + ${seg.filesz}) extends past the end of the file`);
    }
    if (!mem.isValidRange(seg.paddr, seg.memsz)) {
      throw new BootError(`kernel does not fit in guest memory: ELF segment ${i} needs ${hex(seg.paddr)} + ${seg.memsz} bytes`);
    }
    segments.push(seg);
  }
  if (segments.length === 0) throw new BootError('kernel ELF: no PT_LOAD segment');

  // Validate everything before writing anything, then load.
  for (const s of segments) {
    mem.write(s.paddr, bytes.subarray(s.offset, s.offset + s.filesz));
    if (s.memsz > s.filesz) mem.fill(s.paddr + s.filesz, s.memsz - s.filesz, 0);
  }

  return {
    kind: 'elf',
    entry: physicalEntry(entry, segments),
    loadAddr: Math.min(...segments.map((s) => s.paddr)),
    kernelEnd: alignUp(Math.max(...segments.map((s) => s.paddr + s.memsz)), PAGE_SIZE),
    initrdAddrMax: DEFAULT_INITRD_ADDR_MAX,
    cmdlineMax: DEFAULT_CMDLINE_SIZE,
  };
}

/**
 * vmlinux's e_entry is normally physical (startup_64 at p_paddr); a virtual e_entry is mapped through the
 * PT_LOAD segment whose virtual range holds it.
 */
function physicalEntry(entry: bigint, segments: readonly Segment[]): number {
  for (const s of segments) {
    if (entry >= BigInt(s.paddr) && entry < BigInt(s.paddr + s.memsz)) return Number(entry);
  }
  for (const s of segments) {
    if (entry >= s.vaddr && entry < s.vaddr + BigInt(s.memsz)) return s.paddr + Number(entry - s.vaddr);
  }
  throw new BootError(`kernel ELF: entry point ${hex(entry)} is in no PT_LOAD segment`);
}
