// `npm run kvm-host -- CMD [ARGS...]`: runs CMD where a real /dev/kvm exists, inside the emulated KVM host if needed.
import { spawn } from 'node:child_process';
import { hasUsableKvm, runInKvmHost } from './kvm-host.js';

const USAGE = `usage: npm run kvm-host -- CMD [ARGS...]
Runs CMD with a usable /dev/kvm: directly when this CPU has vmx/svm and /dev/kvm opens, otherwise inside the
emulated KVM host (QEMU TCG + Debian kernel + kvm-amd, host root mounted with writes discarded, /tmp shared with
a fresh host folder). Streams CMD's output and exits with its exit code (124 on timeout).
Environment: KQUBES_CACHE (image cache), KQUBES_KVM_HOST_TIMEOUT_S (default 1800).`;

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(USAGE + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  if (hasUsableKvm()) {
    return new Promise((resolve) => {
      const child = spawn(args[0] as string, args.slice(1), { stdio: 'inherit' });
      child.on('error', (e) => {
        process.stderr.write(`kvm-host: cannot run ${args[0]}: ${e.message}\n`);
        resolve(127);
      });
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  }
  const timeoutS = Number(process.env.KQUBES_KVM_HOST_TIMEOUT_S ?? '1800');
  const r = await runInKvmHost({
    argv: args,
    timeoutMs: timeoutS * 1000,
    onOutput: (c) => process.stdout.write(c),
    log: (l) => process.stderr.write(l + '\n'),
  });
  return r.exitCode;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
