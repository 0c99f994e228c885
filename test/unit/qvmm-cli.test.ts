// qvmm's command-line contract on bad input: a non-zero exit and one line on stderr that says what is wrong.
// None of these cases needs KVM: qvmm checks files, the kernel format, memory and the initrd before opening /dev/kvm.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ensureKernel } from '../../images/kernel.js';
import { QVMM_BIN } from '../helpers/qvmm-process.js';

function qvmm(...args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [QVMM_BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

function expectOneLineError(t: Test, r: { code: number | null; stderr: string }, code: number, re: RegExp): void {
  t.equal(r.code, code, `exit code ${code}`);
  const lines = r.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(r.stderr)}`);
  t.match(lines[0], /^qvmm: error: /);
  t.match(lines[0], re);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qvmm-cli-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test('--help names the run command and its flags', async (t) => {
  const r = qvmm('run', '--help');
  t.equal(r.code, 0);
  for (const flag of ['--kernel', '--initrd', '--append', '--memory', '--vcpus', '--disk', '--vsock-cid', '--vsock-uds', '--api-sock']) t.match(r.stdout, flag);
});

t.test('missing kernel file', async (t) => {
  expectOneLineError(t, qvmm('run', '--kernel', path.join(tmp, 'nope')), 2, /kernel .*nope does not exist/);
});

t.test('unreadable kernel (a directory)', async (t) => {
  expectOneLineError(t, qvmm('run', '--kernel', tmp), 2, /is not a regular file/);
});

t.test('a kernel that is neither ELF x86-64 nor bzImage', async (t) => {
  const junk = path.join(tmp, 'junk');
  fs.writeFileSync(junk, Buffer.alloc(64 * 1024, 0x41));
  expectOneLineError(t, qvmm('run', '--kernel', junk, '--memory', '128'), 2, /neither an ELF x86-64 vmlinux nor a bzImage/);
});

t.test('unknown flag and missing --kernel', async (t) => {
  t.equal(qvmm('run', '--kernel', '/x', '--bogus', '1').code, 2);
  t.equal(qvmm('run').code, 2);
});

t.test('memory too small', async (t) => {
  const k = await ensureKernel();
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinuz, '--memory', '16'), 2, /memory 16 MiB is too small/);
  // Large enough for the config check, too small for this kernel's own footprint.
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinuz, '--memory', '64'), 2, /kernel does not fit in guest memory/);
});

t.test('an initrd that does not fit', async (t) => {
  const k = await ensureKernel();
  const big = path.join(tmp, 'big-initrd');
  fs.writeFileSync(big, Buffer.alloc(100 * 1024 * 1024));
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinux, '--initrd', big, '--memory', '128'), 2, /initrd \(\d+ bytes\) does not fit in guest memory/);
});

t.test('bad disk and vsock arguments', async (t) => {
  const k = await ensureKernel();
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinuz, '--disk', `${path.join(tmp, 'no.img')},ro`), 2, /disk .*no\.img does not exist/);
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinuz, '--vsock-cid', '2', '--vsock-uds', path.join(tmp, 'v')), 2, /--vsock-cid must be/);
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinuz, '--vsock-cid', '3'), 2, /go together/);
});

t.test('no /dev/kvm', { skip: fs.existsSync('/dev/kvm') ? 'this machine has /dev/kvm' : false }, async (t) => {
  const k = await ensureKernel();
  expectOneLineError(t, qvmm('run', '--kernel', k.vmlinuz, '--memory', '256'), 1, /\/dev\/kvm does not exist/);
});
