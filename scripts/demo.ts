// README's main job: boot the stock Debian kernel in qvmm with 2 vCPUs, a virtio disk and rng, and show its
// console. Runs inside the emulated KVM host where this machine's /dev/kvm lacks vmx/svm.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeExt4Image, prepareGuest } from '../images/guest-bundle.js';
import { cacheDir } from '../images/cache-dir.js';
import { hasUsableKvm, runInKvmHost } from '../test/harness/kvm-host.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = (line: string): void => void process.stdout.write(`demo: ${line}\n`);

const GUEST_SCRIPT = `
echo "--- hello from $(uname -sr) in a qvmm guest"
echo "CPUs online: $(cat /sys/devices/system/cpu/online)"
mkdir -p /mnt && mount -t ext4 -o ro /dev/vda /mnt && echo "virtio-blk says: $(cat /mnt/hello.txt)"
echo "virtio-rng gave: $(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')"
echo "--- powering off"
`;

async function main(): Promise<void> {
  log('preparing the guest (Debian kernel + busybox initramfs, cached)');
  // Not /tmp: the emulated KVM host gets a /tmp of its own; the cache folder is visible there at the same path.
  const tmpRoot = path.join(cacheDir(), 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true });
  const guest = await prepareGuest(GUEST_SCRIPT, { tmpRoot, log });
  const disk = path.join(guest.dir, 'disk.ext4');
  makeExt4Image(disk, { 'hello.txt': 'hello from an ext4 image made with mkfs.ext4 -d\n' });
  const argv = [
    process.execPath, path.join(root, 'bin', 'qvmm.js'), 'run',
    '--kernel', guest.kernel.vmlinuz, '--initrd', guest.initrd,
    '--append', 'console=ttyS0 reboot=k panic=-1 quiet',
    '--memory', '256', '--vcpus', '2', '--disk', `${disk},ro`,
  ];
  let code: number;
  if (hasUsableKvm()) {
    log('booting on this machine\'s /dev/kvm');
    code = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit' }).status ?? 1;
  } else {
    log('this /dev/kvm has no vmx/svm: booting inside the emulated KVM host (QEMU TCG with SVM)');
    const r = await runInKvmHost({ argv, cwd: root, onOutput: (c) => process.stdout.write(c), timeoutMs: 10 * 60_000 });
    code = r.exitCode;
  }
  fs.rmSync(guest.dir, { recursive: true, force: true });
  log(code === 0 ? 'qvmm exited 0: the guest powered off' : `qvmm exited ${code}`);
  process.exit(code);
}

main().catch((e: unknown) => {
  process.stderr.write(`demo: error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
