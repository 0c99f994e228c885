// `npm run images`: builds the kernel and the test initramfs into the cache and writes manifest.json with hashes.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { ensureKernel, cacheDir } from './kernel.js';
import { ensureTestInitramfs } from './test-initramfs.js';

const USAGE = `usage: npm run images [-- --json]
Builds into the cache ($KQUBES_CACHE, default ~/.cache/kqubes) from Debian packages:
  kernel       the current linux-image-*-amd64: vmlinuz (bzImage), vmlinux (ELF) and its modules
  initramfs    the busybox test initramfs for L2 guests (virtio, ext4, vsock modules, socat)
and writes <cache>/manifest.json with the sha256 of each artifact. Does nothing that is already done.
  --json   print the manifest as JSON instead of progress lines`;

interface ManifestEntry {
  path: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  kernelVersion: string;
  artifacts: Record<'vmlinuz' | 'vmlinux' | 'testInitramfs', ManifestEntry>;
}

function describe(file: string): ManifestEntry {
  const data = fs.readFileSync(file);
  return { path: file, sha256: crypto.createHash('sha256').update(data).digest('hex'), size: data.length };
}

async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length > 0) {
    process.stderr.write(`images: unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const json = args.includes('--json');
  const log = (line: string): void => {
    (json ? process.stderr : process.stdout).write(`images: ${line}\n`);
  };
  log(`cache ${cacheDir()}`);
  const kernel = await ensureKernel(log);
  log(`kernel ${kernel.version} ready`);
  const initramfs = await ensureTestInitramfs(kernel, log);
  log(`test initramfs ready: ${initramfs}`);
  const manifest: Manifest = {
    kernelVersion: kernel.version,
    artifacts: { vmlinuz: describe(kernel.vmlinuz), vmlinux: describe(kernel.vmlinux), testInitramfs: describe(initramfs) },
  };
  const file = path.join(cacheDir(), 'manifest.json');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(tmp, file);
  if (json) process.stdout.write(JSON.stringify(manifest, null, 2) + '\n');
  else log(`wrote ${file}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    process.stderr.write(`images: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
