// Our ACPI tables through ACPICA's own tools (iasl -d, acpiexec from Debian's acpica-tools), when installed.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory, GuestAddress } from '../../vmm/memory/guest-memory.js';
import { writeAcpiTables } from '../../vmm/arch/x86_64/acpi/tables.js';

const have = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const VCPUS = 3;

/** Writes each table from guest memory into its own file, as acpidump/acpixtract would. */
function dumpTables(dir: string): Record<'facp' | 'apic' | 'xsdt' | 'dsdt', string> {
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: 2 * 1024 * 1024 }]);
  const l = writeAcpiTables(mem, { vcpus: VCPUS, virtioMmio: [{ base: 0xd000_0000, size: 0x1000, irq: 5 }] });
  const files = { facp: l.fadtAddr, apic: l.madtAddr, xsdt: l.xsdtAddr, dsdt: l.dsdtAddr };
  const out = {} as Record<keyof typeof files, string>;
  for (const [name, addr] of Object.entries(files) as [keyof typeof files, number][]) {
    out[name] = join(dir, `${name}.dat`);
    writeFileSync(out[name], mem.readCopy(addr, mem.readU32(addr + 4)));
  }
  return out;
}

t.test('iasl disassembles every table without errors', { skip: have('iasl') ? false : 'iasl not installed (apt-get install acpica-tools)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqubes-acpi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = dumpTables(dir);
  const dsl: Record<string, string> = {};
  for (const [name, file] of Object.entries(files)) {
    const r = spawnSync('iasl', ['-d', file], { cwd: dir, encoding: 'utf8' });
    t.equal(r.status, 0, `iasl -d ${name}.dat exits 0`);
    t.notMatch(r.stdout + r.stderr, /error|warning|invalid/i, `iasl reports no problem with ${name}`);
    dsl[name] = readFileSync(join(dir, `${name}.dsl`), 'utf8');
  }
  t.match(dsl.dsdt!, /Name \(_S5, Package \(0x04\)\s*\/\/ _S5_: S5 System State\s*\{\s*0x05,\s*Zero,\s*Zero,\s*Zero\s*\}\)/, '_S5_ = {5, 0, 0, 0}');
  t.match(dsl.dsdt!, /Device \(\\_SB\.V000\)[\s\S]*"LNRO0005"[\s\S]*0xD0000000[\s\S]*Interrupt \(ResourceConsumer, Edge, ActiveHigh, Exclusive/, 'virtio-mmio device');
  t.match(dsl.dsdt!, /Device \(\\_SB\.COM1\)[\s\S]*EisaId \("PNP0501"\)[\s\S]*0x03F8[\s\S]*0x00000004,/, 'COM1 with IRQ 4');
  t.match(dsl.dsdt!, /Device \(\\_SB\.PS2\)[\s\S]*EisaId \("PNP0303"\)[\s\S]*0x0060[\s\S]*0x0064[\s\S]*0x00000001,/, 'i8042 with IRQ 1');
  t.match(dsl.facp!, /Hardware Reduced \(V5\) : 1/);
  t.match(dsl.facp!, /Sleep Control Register[\s\S]*Space ID : 01 \[SystemIO\][\s\S]*Address : 0000000000000600/);
  t.match(dsl.facp!, /Sleep Status Register[\s\S]*Space ID : 01 \[SystemIO\][\s\S]*Address : 0000000000000601/);
  t.equal(dsl.apic!.match(/Subtable Type : 00 \[Processor Local APIC\]/g)?.length, VCPUS, 'one local APIC per vCPU');
  t.equal(dsl.apic!.match(/Subtable Type : 01 \[I\/O APIC\]/g)?.length, 1, 'one IO-APIC');
  t.equal(dsl.xsdt!.match(/ACPI Table Address/g)?.length, 2, 'XSDT lists two tables');
});

t.test('acpiexec loads the namespace and evaluates \\_S5_', { skip: have('acpiexec') ? false : 'acpiexec not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kqubes-acpi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = dumpTables(dir);
  const out = execFileSync('acpiexec', ['-b', 'evaluate \\_S5_', f.facp, f.dsdt, f.apic], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  t.match(out, /\[Package\] Contains 4 Elements:\s*\[Integer\] = 0+5\s*\[Integer\] = 0+\s/, '\\_S5_ evaluates to {5, 0, ...}');
  t.notMatch(out, /AE_\w+ error|Exception/i, 'no ACPICA exception');
});
