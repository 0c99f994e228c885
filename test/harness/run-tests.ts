// Test runner: `node dist/test/harness/run-tests.js TIER...` (unit|kvm|e2e). unit runs tap here; kvm and e2e run tap
// where /dev/kvm is usable, else inside the emulated KVM host (one boot per tier). Ends with "tests: N passed, N failed".
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasUsableKvm, runInKvmHost } from './kvm-host.js';
import { TapCounter } from './tap-counts.js';

const TIERS = ['unit', 'kvm', 'e2e'] as const;
type Tier = (typeof TIERS)[number];
/** Whole-tier limit inside the emulated KVM host, where everything runs 10-50x slower. */
const KVM_HOST_TIER_TIMEOUT_MS = 40 * 60 * 1000;
const USAGE = `usage: node dist/test/harness/run-tests.js TIER...   (TIER: ${TIERS.join('|')})
Runs tap on dist/test/<tier>/**/*.test.js (build first: npm run build). kvm and e2e run inside the emulated KVM host
unless this machine has a usable /dev/kvm (vmx/svm). Prints "tests: N passed, N failed" last; exits 1 on any failure.`;

/** The package root: this file is dist/test/harness/run-tests.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function testFiles(tier: Tier): string[] {
  const dir = path.join('dist', 'test', tier);
  if (!fs.existsSync(path.join(ROOT, dir))) return [];
  return (fs.readdirSync(path.join(ROOT, dir), { recursive: true }) as string[])
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => path.join(dir, f))
    .sort();
}

function tapCommand(files: string[]): string[] {
  const bin = fs.realpathSync(path.join(ROOT, 'node_modules', '.bin', 'tap'));
  return [process.execPath, bin, '--reporter=tap', ...files];
}

interface TierResult {
  passed: number;
  failed: number;
  errored: string | null;
}

async function runTier(tier: Tier, files: string[]): Promise<TierResult> {
  const counter = new TapCounter();
  const sink = (chunk: Buffer): void => {
    process.stdout.write(chunk);
    counter.write(chunk);
  };
  const argv = tapCommand(files);
  let exitCode: number;
  if (tier === 'unit' || hasUsableKvm()) {
    exitCode = await new Promise<number>((resolve) => {
      const [cmd, ...args] = argv as [string, ...string[]];
      const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', sink);
      child.on('error', (e) => {
        process.stderr.write(`run-tests: cannot start tap: ${e.message}\n`);
        resolve(127);
      });
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } else {
    process.stdout.write(`run-tests: tier ${tier}: no usable /dev/kvm here, running inside the emulated KVM host\n`);
    const started = Date.now();
    const r = await runInKvmHost({
      argv,
      cwd: ROOT,
      timeoutMs: KVM_HOST_TIER_TIMEOUT_MS,
      onOutput: sink,
      log: (l) => process.stdout.write(`run-tests: ${l}\n`),
    });
    exitCode = r.exitCode;
    process.stdout.write(`run-tests: tier ${tier}: emulated KVM host run took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  const counts = counter.end();
  let errored: string | null = null;
  if (counts.bailedOut) errored = 'tap bailed out';
  else if (exitCode !== 0 && counts.failed === 0) errored = `tap exited with ${exitCode} but reported no failed test`;
  else if (exitCode === 0 && counts.failed > 0) errored = `tap exited with 0 but ${counts.failed} tests failed`;
  return { passed: counts.passed, failed: counts.failed, errored };
}

async function main(args: string[]): Promise<number> {
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return args.length === 0 ? 2 : 0;
  }
  const bad = args.filter((a) => !(TIERS as readonly string[]).includes(a));
  if (bad.length > 0) {
    process.stderr.write(`run-tests: unknown tier ${bad.join(', ')} (expected ${TIERS.join('|')})\n`);
    return 2;
  }
  let passed = 0;
  let failed = 0;
  let errors = 0;
  for (const tier of args as Tier[]) {
    const files = testFiles(tier);
    if (files.length === 0) {
      process.stdout.write(`run-tests: tier ${tier}: no test files in dist/test/${tier}, skipped\n`);
      continue;
    }
    process.stdout.write(`run-tests: tier ${tier}: ${files.length} test files\n`);
    try {
      const r = await runTier(tier, files);
      passed += r.passed;
      failed += r.failed;
      if (r.errored) {
        errors++;
        process.stdout.write(`run-tests: tier ${tier}: ${r.errored}\n`);
      }
    } catch (e) {
      errors++;
      process.stdout.write(`run-tests: tier ${tier}: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  process.stdout.write(`tests: ${passed} passed, ${failed} failed\n`);
  return failed > 0 || errors > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`run-tests: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
