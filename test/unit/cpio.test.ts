// Round-trips archives from images/cpio.ts through the real cpio(1) tool.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeCpio, appendFilesCpio } from '../../images/cpio.js';
import type { CpioEntry } from '../../images/cpio.js';

function cpio(args: string[], input: Buffer, cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('cpio', args, { input, cwd });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

t.test('files, folders and symlinks come back out of cpio -idm unchanged', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-cpio-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const binary = Buffer.from(Array.from({ length: 1029 }, (_, i) => (i * 37) & 0xff));
  const entries: CpioEntry[] = [
    { type: 'dir', path: '/etc', mode: 0o755 },
    { type: 'dir', path: 'etc/deep', mode: 0o700 },
    { type: 'file', path: '/etc/deep/blob.bin', data: binary, mode: 0o600 },
    { type: 'file', path: 'init', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
    { type: 'file', path: 'empty', data: '' },
    { type: 'file', path: 'odd', data: 'abc' }, // 3 bytes: exercises the 4-byte padding
    { type: 'symlink', path: 'bin-sh', target: '/bin/busybox' },
  ];
  const r = cpio(['-idm', '--quiet'], writeCpio(entries, 1_700_000_000), dir);
  t.equal(r.status, 0, r.stderr);
  t.same(fs.readFileSync(path.join(dir, 'etc/deep/blob.bin')), binary);
  t.equal(fs.statSync(path.join(dir, 'etc/deep/blob.bin')).mode & 0o7777, 0o600);
  t.equal(fs.statSync(path.join(dir, 'etc/deep')).mode & 0o7777, 0o700);
  t.equal(fs.readFileSync(path.join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.equal(fs.statSync(path.join(dir, 'init')).mode & 0o7777, 0o755);
  t.equal(fs.statSync(path.join(dir, 'init')).mtimeMs, 1_700_000_000_000);
  t.equal(fs.readFileSync(path.join(dir, 'empty')).length, 0);
  t.equal(fs.readFileSync(path.join(dir, 'odd'), 'utf8'), 'abc');
  t.equal(fs.readlinkSync(path.join(dir, 'bin-sh')), '/bin/busybox');
});

t.test('a character device node is listed with its type and numbers', async (t) => {
  const archive = writeCpio([
    { type: 'dir', path: 'dev' },
    { type: 'chardev', path: '/dev/console', major: 5, minor: 1, mode: 0o600 },
  ]);
  const r = cpio(['-itv', '--quiet'], archive, os.tmpdir());
  t.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.endsWith('dev/console')) ?? '';
  t.match(line, /^crw------- .* 5,\s*1 .*dev\/console$/);
});

t.test('appendFilesCpio adds the parent folders of nested files', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kq-cpio-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const archive = appendFilesCpio([
    { path: '/test.sh', data: 'exit 0\n', mode: 0o755 },
    { path: '/opt/kq/data.txt', data: Buffer.from('payload') },
  ]);
  const r = cpio(['-idm', '--quiet'], archive, dir);
  t.equal(r.status, 0, r.stderr);
  t.equal(fs.readFileSync(path.join(dir, 'test.sh'), 'utf8'), 'exit 0\n');
  t.equal(fs.statSync(path.join(dir, 'test.sh')).mode & 0o777, 0o755);
  t.equal(fs.readFileSync(path.join(dir, 'opt/kq/data.txt'), 'utf8'), 'payload');
  t.equal(fs.statSync(path.join(dir, 'opt/kq/data.txt')).mode & 0o777, 0o644);
});

t.test('paths that climb out of the archive root are refused', async (t) => {
  t.throws(() => writeCpio([{ type: 'file', path: '../etc/passwd', data: 'x' }]), /bad path/);
  t.throws(() => writeCpio([{ type: 'file', path: '/', data: 'x' }]), /bad path/);
});
