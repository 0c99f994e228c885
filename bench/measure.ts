// The measuring program of `npm run bench`: runs where /dev/kvm is real (directly, or inside the emulated KVM
// host), builds its guest files there (the emulated host's /tmp is its own), and writes the summary to --result.
import fs from 'node:fs';
import { prepareGuest } from '../images/guest-bundle.js';
import { benchBoot } from './boot.js';
import { benchExits } from './exits.js';
import { benchMemory } from './memory.js';
import { BENCH_WHERE_ENV, parseBenchArgs, UsageError } from './options.js';
import { formatTable, type BenchSummary } from './summary.js';

/** The guest keeps running after its ready marker, so that memory is measured on a live VM. */
const GUEST_SCRIPT = 'sleep 3600\n';

const log = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  const summary: BenchSummary = {
    where: process.env[BENCH_WHERE_ENV] ?? 'direct',
    startedAt: new Date().toISOString(),
    rows: [],
    details: {},
    errors: {},
  };
  const needsGuest = opts.only.includes('boot') || opts.only.includes('memory');
  const guest = needsGuest ? await prepareGuest(GUEST_SCRIPT, { log: (l) => log(`guest: ${l}`) }) : undefined;
  const files = guest ? { vmlinuz: guest.kernel.vmlinuz, initrd: guest.initrd } : undefined;
  try {
    for (const name of opts.only) {
      try {
        if (name === 'boot') {
          const r = await benchBoot(files!, opts.runs, log);
          summary.rows.push(...r.rows);
          summary.details.boot = { qvmmMs: r.qvmmMs, qemuMs: r.qemuMs };
        } else if (name === 'exits') {
          const r = await benchExits(opts.exits, opts.runs, log);
          summary.rows.push(...r.rows);
          summary.details.exits = { exits: r.exits, qvmmNsPerExit: r.qvmmNsPerExit, cNsPerExit: r.cNsPerExit, seconds: r.seconds };
        } else {
          const r = await benchMemory(files!, log);
          summary.rows.push(...r.rows);
          summary.details.memory = { bareNode: r.bareNode, qvmm: r.qvmm };
        }
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        summary.errors[name] = why.split('\n')[0]!;
        log(`${name}: FAILED: ${why}`);
      }
    }
  } finally {
    if (guest) fs.rmSync(guest.dir, { recursive: true, force: true });
  }
  if (opts.result) fs.writeFileSync(opts.result, JSON.stringify(summary, null, 2) + '\n');
  else log(formatTable(summary));
}

main().then(
  // Child processes' pipes or a lingering worker must not keep the program alive.
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
