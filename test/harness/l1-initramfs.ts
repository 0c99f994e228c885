// Builds the initramfs of the emulated KVM host (L1): busybox, kvm-amd, virtio-pci, 9p and overlayfs modules, and an
// init that mounts the host's root writable (overlay on a tmpfs), runs the command in a chroot and reports its exit.
import path from 'node:path';
import type { KernelArtifacts } from '../../images/kernel.js';
import { cacheDir } from '../../images/cache-dir.js';
import type { CpioEntry } from '../../images/cpio.js';
import { baseEntries, busyboxEntries, moduleEntries, writeCachedArchive, LOAD_MODULES_SH } from '../../images/initramfs-parts.js';

/** Console lines between L1's init and the host side; the host strips them from the output. */
export const L1_START_MARKER = 'KQUBES-L1-START';
export const L1_EXIT_MARKER = 'KQUBES-L1-EXIT rc=';
/**
 * 9p mount tags: the host's root (read-only) and the per-run shared folder, mounted inside L1 at its host path.
 * /tmp itself is a tmpfs: unix sockets cannot be bound on 9p (listen gives ENXIO), and tests put sockets in /tmp.
 */
export const HOSTROOT_TAG = 'hostroot';
export const SHARED_TMP_TAG = 'kqtmp';
/** The script L1 runs, in the shared folder; the folder's path comes on the kernel command line as kq.shared=. */
export const RUN_SCRIPT_NAME = '.kqubes-l1-run.sh';
export const CMDLINE_SHARED = 'kq.shared';
/**
 * Host folders under /tmp that must stay visible inside L1 although its /tmp is a fresh tmpfs (a checkout or a
 * cache that lives in /tmp): comma-separated; each gets its own overlay (host copy read-only, writes discarded).
 */
export const CMDLINE_KEEP = 'kq.keep';
/** Exit code L1 reports when it could not set up the chroot (the command never ran). */
export const L1_SETUP_FAILED_RC = 125;

/** Modules from reference/kvm-host.md plus overlayfs; dependencies are resolved from the modules themselves. */
export const L1_MODULES = ['irqbypass', 'kvm', 'ccp', 'kvm_amd', 'virtio_pci', '9pnet_virtio', '9p', 'overlay'];
const NINEP_OPTS = 'trans=virtio,version=9p2000.L,msize=262144';

export const L1_INIT_SCRIPT = `#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
fail() { echo "kvm-host (L1): $*"; echo "${L1_EXIT_MARKER}${L1_SETUP_FAILED_RC}"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1
stty -onlcr < /dev/console
${LOAD_MODULES_SH}
load_modules
ip link set lo up
mkdir -p /lower /upper /host
mount -t 9p -o ${NINEP_OPTS},ro,cache=loose ${HOSTROOT_TAG} /lower || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /host || fail "cannot mount the overlay on the host root"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mount -t tmpfs tmpfs /host/run
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
keep=$(sed -n 's/.*${CMDLINE_KEEP}=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
i=0
for p in $(echo "$keep" | tr ',' ' '); do
  i=$((i+1))
  mkdir -p "/host$p" "/upper/keep$i/data" "/upper/keep$i/work"
  mount -t overlay -o "lowerdir=/lower$p,upperdir=/upper/keep$i/data,workdir=/upper/keep$i/work" overlay "/host$p" || fail "cannot make $p visible inside L1"
done
shared=$(sed -n 's/.*${CMDLINE_SHARED}=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
[ -n "$shared" ] || fail "no ${CMDLINE_SHARED}= on the kernel command line"
mkdir -p "/host$shared"
mount -t 9p -o ${NINEP_OPTS} ${SHARED_TMP_TAG} "/host$shared" || fail "cannot mount the shared folder over 9p"
[ -c /host/dev/kvm ] || echo "kvm-host (L1): warning: no /dev/kvm (kvm_amd did not load)"
echo ${L1_START_MARKER}
# Through a pipe, so that the command's stdout is not a terminal (no colours, no cursor tricks in the output).
set -o pipefail
chroot /host /bin/sh "$shared/${RUN_SCRIPT_NAME}" < /dev/null 2>&1 | cat
rc=$?
echo "${L1_EXIT_MARKER}$rc"
poweroff -f
`;

/** Builds (or finds in the cache) the L1 initramfs for kernel `k`. */
export function ensureL1Initramfs(k: KernelArtifacts, log: (line: string) => void = () => {}): string {
  const modules = moduleEntries(k.modulesDir, L1_MODULES, new Set());
  const entries: CpioEntry[] = [
    ...baseEntries(),
    ...busyboxEntries(),
    ...modules.entries,
    { type: 'file', path: 'init', data: L1_INIT_SCRIPT, mode: 0o755 },
  ];
  const { file, created } = writeCachedArchive(path.join(cacheDir(), 'initramfs'), `l1-${k.version}`, entries);
  if (created) log(`kvm-host: wrote ${file}`);
  return file;
}
