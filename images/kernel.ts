// Fetches Debian's current amd64 kernel package into the cache and derives vmlinuz, vmlinux and the modules tree.
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from './cache-dir.js';
import { runTool, ImageBuildError } from './exec.js';
import { extractVmlinux } from './bzimage.js';

export { cacheDir } from './cache-dir.js';

export interface KernelArtifacts {
  /** Kernel release, e.g. 6.1.0-56-amd64 (also the name of the modules folder). */
  version: string;
  /** The bzImage, bootable by QEMU and by a bzImage loader. */
  vmlinuz: string;
  /** The uncompressed ELF kernel, for ELF loaders. */
  vmlinux: string;
  /** .../lib/modules/<version>. */
  modulesDir: string;
}

const META_PACKAGE = 'linux-image-amd64';
const IMAGE_PACKAGE_RE = /^\s*Depends:\s*(linux-image-(\d[^\s]*-amd64))\s*$/m;

/** Asks apt which versioned image package the linux-image-amd64 meta package currently points to. */
function currentImagePackage(log: (line: string) => void): { pkg: string; version: string } {
  const query = (): RegExpMatchArray | null => {
    try {
      return runTool('apt-cache', ['depends', META_PACKAGE]).stdout.toString('utf8').match(IMAGE_PACKAGE_RE);
    } catch (e) {
      if (e instanceof ImageBuildError && e.message.includes('not found:')) throw e;
      return null;
    }
  };
  let m = query();
  if (!m) {
    log(`apt-cache knows no ${META_PACKAGE}; running apt-get update`);
    runTool('apt-get', ['update']);
    m = query();
  }
  if (!m || !m[1] || !m[2]) throw new ImageBuildError(`apt-cache depends ${META_PACKAGE} names no linux-image-*-amd64 package (is a Debian amd64 source configured?)`);
  return { pkg: m[1], version: m[2] };
}

function artifactsFor(dir: string, version: string): KernelArtifacts {
  return {
    version,
    vmlinuz: path.join(dir, 'boot', `vmlinuz-${version}`),
    vmlinux: path.join(dir, 'vmlinux'),
    modulesDir: path.join(dir, 'lib', 'modules', version),
  };
}

function complete(k: KernelArtifacts): boolean {
  return fs.existsSync(k.vmlinuz) && fs.existsSync(k.vmlinux) && fs.existsSync(path.join(k.modulesDir, 'modules.builtin'));
}

/** The newest kernel already unpacked in the cache, used when apt cannot be asked (no apt, offline). */
function cachedKernel(): KernelArtifacts | null {
  const root = path.join(cacheDir(), 'kernel');
  if (!fs.existsSync(root)) return null;
  const versions = fs.readdirSync(root).filter((v) => !v.startsWith('.')).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  for (const v of versions.reverse()) {
    const k = artifactsFor(path.join(root, v), v);
    if (complete(k)) return k;
  }
  return null;
}

/**
 * Makes sure the current Debian kernel is in the cache: downloads the .deb, unpacks it to cache/kernel/<ver>/ and
 * writes cache/kernel/<ver>/vmlinux. Does nothing when all of it is already there.
 */
export async function ensureKernel(log: (line: string) => void = () => {}): Promise<KernelArtifacts> {
  let pkg: string;
  let version: string;
  try {
    ({ pkg, version } = currentImagePackage(log));
  } catch (e) {
    const cached = cachedKernel();
    if (cached) {
      log(`kernel: ${(e as Error).message}; using cached ${cached.version}`);
      return cached;
    }
    throw e;
  }
  const kernelRoot = path.join(cacheDir(), 'kernel');
  const dir = path.join(kernelRoot, version);
  const k = artifactsFor(dir, version);
  if (complete(k)) return k;

  if (!fs.existsSync(path.join(dir, 'lib', 'modules', version, 'modules.builtin'))) {
    const debDir = path.join(cacheDir(), 'debs');
    fs.mkdirSync(debDir, { recursive: true });
    let deb = fs.readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) {
      log(`kernel: apt-get download ${pkg}`);
      runTool('apt-get', ['download', pkg], { cwd: debDir });
      deb = fs.readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
      if (!deb) throw new ImageBuildError(`apt-get download ${pkg} left no ${pkg}_*.deb in ${debDir}`);
    }
    log(`kernel: unpacking ${deb}`);
    // Unpack beside the final folder and rename, so an interrupted run never leaves a half tree that looks complete.
    fs.mkdirSync(kernelRoot, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(kernelRoot + path.sep, `.${version}-`));
    runTool('dpkg-deb', ['-x', path.join(debDir, deb), tmp]);
    if (fs.existsSync(path.join(k.modulesDir, 'modules.builtin'))) {
      fs.rmSync(tmp, { recursive: true, force: true }); // another process finished first
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
    }
  }
  if (!fs.existsSync(k.vmlinuz)) throw new ImageBuildError(`${pkg} has no boot/vmlinuz-${version}`);
  if (!fs.existsSync(k.vmlinux)) {
    log(`kernel: extracting vmlinux from ${path.basename(k.vmlinuz)}`);
    const elf = extractVmlinux(fs.readFileSync(k.vmlinuz), k.vmlinuz);
    const tmp = `${k.vmlinux}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, elf);
    fs.renameSync(tmp, k.vmlinux);
  }
  return k;
}
