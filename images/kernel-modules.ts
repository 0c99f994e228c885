// Indexes a kernel's modules tree and orders modules for insmod, reading dependencies from each module's .modinfo.
import fs from 'node:fs';
import path from 'node:path';
import { ImageBuildError, runTool } from './exec.js';

/** ELF64 header and section header fields we read (System V ABI). */
const ELF_MAGIC = 0x464c457f; // "\x7fELF" read as little-endian u32
const E_SHOFF = 0x28;
const E_SHENTSIZE = 0x3a;
const E_SHNUM = 0x3c;
const E_SHSTRNDX = 0x3e;
const SH_NAME = 0x00;
const SH_OFFSET = 0x18;
const SH_SIZE = 0x20;
const MODINFO_SECTION = '.modinfo';

export interface KernelModule {
  /** Canonical name: file name without .ko, '-' replaced by '_' (what the kernel calls it). */
  name: string;
  /** Absolute path of the .ko (or .ko.xz / .ko.zst) file. */
  file: string;
  /** Path relative to the modules folder, e.g. kernel/fs/ext4/ext4.ko. */
  relPath: string;
}

export function canonicalModuleName(name: string): string {
  return name.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Returns the module as an uncompressed ELF, decompressing .ko.xz / .ko.zst with the Debian tools. */
export function readModule(m: KernelModule): Buffer {
  if (m.file.endsWith('.ko.xz')) return runTool('xz', ['-dc', m.file]).stdout;
  if (m.file.endsWith('.ko.zst')) return runTool('zstd', ['-dcq', m.file]).stdout;
  if (m.file.endsWith('.ko.gz')) return runTool('gzip', ['-dc', m.file]).stdout;
  return fs.readFileSync(m.file);
}

/** The `depends=` list of a module's .modinfo section (canonical names). */
export function moduleDepends(elf: Buffer, file: string): string[] {
  const fail = (what: string): never => {
    throw new ImageBuildError(`${file}: ${what}`);
  };
  if (elf.length < 0x40 || elf.readUInt32LE(0) !== ELF_MAGIC) fail('not an ELF file');
  const shoff = Number(elf.readBigUInt64LE(E_SHOFF));
  const shentsize = elf.readUInt16LE(E_SHENTSIZE);
  const shnum = elf.readUInt16LE(E_SHNUM);
  const shstrndx = elf.readUInt16LE(E_SHSTRNDX);
  if (shstrndx >= shnum || shoff + shnum * shentsize > elf.length) fail('section headers outside the file');
  const section = (i: number): { name: number; offset: number; size: number } => {
    const h = shoff + i * shentsize;
    return { name: elf.readUInt32LE(h + SH_NAME), offset: Number(elf.readBigUInt64LE(h + SH_OFFSET)), size: Number(elf.readBigUInt64LE(h + SH_SIZE)) };
  };
  const strtab = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameStart = strtab.offset + s.name;
    const nameEnd = elf.indexOf(0, nameStart);
    if (nameEnd < 0 || elf.toString('latin1', nameStart, nameEnd) !== MODINFO_SECTION) continue;
    if (s.offset + s.size > elf.length) fail(`${MODINFO_SECTION} outside the file`);
    for (const entry of elf.toString('latin1', s.offset, s.offset + s.size).split('\0')) {
      if (entry.startsWith('depends=')) return entry.slice('depends='.length).split(',').filter((d) => d.length > 0).map(canonicalModuleName);
    }
    return [];
  }
  return fail(`no ${MODINFO_SECTION} section`);
}

export class ModuleIndex {
  private readonly modules = new Map<string, KernelModule>();
  private readonly builtin = new Set<string>();

  private constructor(readonly modulesDir: string) {}

  /** Indexes <modulesDir>/kernel/** and modules.builtin. */
  static load(modulesDir: string): ModuleIndex {
    const index = new ModuleIndex(modulesDir);
    const kernelDir = path.join(modulesDir, 'kernel');
    if (!fs.existsSync(kernelDir)) throw new ImageBuildError(`${kernelDir}: no modules folder`);
    for (const rel of fs.readdirSync(kernelDir, { recursive: true }) as string[]) {
      if (!/\.ko(\.(xz|zst|gz))?$/.test(rel)) continue;
      const name = canonicalModuleName(path.basename(rel));
      index.modules.set(name, { name, file: path.join(kernelDir, rel), relPath: path.join('kernel', rel) });
    }
    const builtinFile = path.join(modulesDir, 'modules.builtin');
    if (fs.existsSync(builtinFile)) {
      for (const line of fs.readFileSync(builtinFile, 'utf8').split('\n')) {
        if (line.trim()) index.builtin.add(canonicalModuleName(path.basename(line.trim())));
      }
    }
    return index;
  }

  get(name: string): KernelModule | undefined {
    return this.modules.get(canonicalModuleName(name));
  }

  isBuiltin(name: string): boolean {
    return this.builtin.has(canonicalModuleName(name));
  }

  /**
   * The modules to insmod, dependencies first, for the wanted names. Built-in modules are skipped; a name that is
   * neither a module nor built-in is an error unless `optional` lists it.
   */
  loadOrder(wanted: string[], optional: ReadonlySet<string> = new Set()): KernelModule[] {
    const order: KernelModule[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, chain: string[]): void => {
      const n = canonicalModuleName(name);
      if (state.get(n) === 'done') return;
      if (state.get(n) === 'visiting') throw new ImageBuildError(`module dependency cycle: ${[...chain, n].join(' -> ')}`);
      const m = this.modules.get(n);
      if (!m) {
        state.set(n, 'done');
        if (this.isBuiltin(n) || optional.has(n) || optional.has(name)) return;
        throw new ImageBuildError(`kernel module ${n} is neither in ${this.modulesDir} nor built in`);
      }
      state.set(n, 'visiting');
      for (const dep of moduleDepends(readModule(m), m.file)) visit(dep, [...chain, n]);
      state.set(n, 'done');
      order.push(m);
    };
    for (const w of wanted) visit(w, []);
    return order;
  }
}
