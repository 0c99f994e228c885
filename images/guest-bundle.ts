// A bootable test guest in one call: the Debian kernel, the test initramfs with a given /test.sh appended,
// and (optionally) an ext4 disk image made from a folder's contents with `mkfs.ext4 -d` (no root needed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureKernel, type KernelArtifacts } from './kernel.js';
import { appendFilesCpio, ensureTestInitramfs } from './test-initramfs.js';
import { runTool } from './exec.js';

export interface GuestBundle {
  readonly kernel: KernelArtifacts;
  /** base initramfs + the appended /test.sh */
  readonly initrd: string;
  /** folder holding the bundle's files (remove it when done) */
  readonly dir: string;
}

/** Builds a guest whose init runs `script` as /test.sh. Files go to a fresh folder under `tmpRoot`. */
export async function prepareGuest(script: string, opts: { tmpRoot?: string; log?: (line: string) => void } = {}): Promise<GuestBundle> {
  const log = opts.log ?? (() => {});
  const kernel = await ensureKernel(log);
  const base = await ensureTestInitramfs(kernel, log);
  const dir = fs.mkdtempSync(path.join(opts.tmpRoot ?? os.tmpdir(), 'kqubes-guest-'));
  const initrd = path.join(dir, 'initrd.cpio');
  fs.writeFileSync(initrd, Buffer.concat([fs.readFileSync(base), appendFilesCpio([{ path: '/test.sh', data: script, mode: 0o755 }])]));
  return { kernel, initrd, dir };
}

/** Makes an ext4 image of `sizeMiB` holding `files` (relative path -> contents), without root. */
export function makeExt4Image(imagePath: string, files: Record<string, string | Buffer>, sizeMiB = 16): void {
  const src = fs.mkdtempSync(path.join(path.dirname(imagePath), 'ext4-src-'));
  try {
    for (const [rel, data] of Object.entries(files)) {
      const p = path.join(src, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, data);
    }
    fs.rmSync(imagePath, { force: true });
    runTool('mkfs.ext4', ['-q', '-F', '-d', src, '-L', 'kqtest', imagePath, `${sizeMiB}M`]);
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
}
