// `npm run bench`: runs bench/measure.ts where a real /dev/kvm is (directly, or in ONE emulated KVM host run),
// then prints the summary table and writes it as JSON with --json FILE.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureKernel } from '../images/kernel.js';
import { ensureTestInitramfs } from '../images/test-initramfs.js';
import { hasUsableKvm, runInKvmHost } from '../test/harness/kvm-host.js';
import { BENCH_WHERE_ENV, measureArgs, parseBenchArgs, UsageError, type BenchOptions } from './options.js';
import { formatTable, type BenchSummary } from './summary.js';
import { REPO_ROOT } from './vm-commands.js';

const MEASURE = path.join(REPO_ROOT, 'dist', 'bench', 'measure.js');
const RESULT_NAME = 'bench-result.json';
const KVM_HOST_TIMEOUT_MS = 60 * 60_000;

const log = (line: string): void => void process.stdout.write(`bench: ${line}\n`);

async function measure(opts: BenchOptions): Promise<BenchSummary> {
  // The result travels through a folder the emulated host shares read-write (its own /tmp is a tmpfs).
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'kqubes-bench-'));
  fs.chmodSync(shared, 0o1777);
  const resultFile = path.join(shared, RESULT_NAME);
  const argv = [process.execPath, MEASURE, ...measureArgs(opts, resultFile)];
  try {
    let code: number;
    if (hasUsableKvm()) {
      log('running on this machine\'s /dev/kvm');
      code = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit', cwd: REPO_ROOT, env: { ...process.env, [BENCH_WHERE_ENV]: 'direct' } }).status ?? 1;
    } else {
      log('this /dev/kvm has no vmx/svm: measuring inside the emulated KVM host (QEMU TCG; absolute times there are 10-50x slower, compare ratios)');
      const t0 = performance.now();
      const r = await runInKvmHost({
        argv,
        cwd: REPO_ROOT,
        sharedTmp: shared,
        env: { [BENCH_WHERE_ENV]: 'emulated KVM host' },
        timeoutMs: KVM_HOST_TIMEOUT_MS,
        onOutput: (c) => process.stdout.write(c),
        log,
      });
      code = r.exitCode;
      log(`emulated KVM host run took ${((performance.now() - t0) / 1000).toFixed(1)} s (its boot included)`);
    }
    if (!fs.existsSync(resultFile)) throw new Error(`the measuring program exited ${code} without a result`);
    return JSON.parse(fs.readFileSync(resultFile, 'utf8')) as BenchSummary;
  } finally {
    fs.rmSync(shared, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const opts = parseBenchArgs(process.argv.slice(2));
  if (opts.only.includes('boot') || opts.only.includes('memory')) {
    // Build the cached guest artifacts here, where the cache is writable; the measuring program finds them.
    const k = await ensureKernel(log);
    await ensureTestInitramfs(k, log);
  }
  const summary = await measure(opts);
  process.stdout.write(`\n${formatTable(summary)}\n`);
  if (opts.json) {
    fs.writeFileSync(opts.json, JSON.stringify(summary, null, 2) + '\n');
    log(`wrote ${opts.json}`);
  }
  return Object.keys(summary.errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof UsageError ? e.message : e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
