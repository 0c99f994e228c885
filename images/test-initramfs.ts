// Builds the busybox initramfs that L2 test guests boot: virtio/ext4/vsock modules, socat, and an /init that runs
// /test.sh when a test appended one (see appendFilesCpio) and reports its exit code on the console.
import path from 'node:path';
import type { KernelArtifacts } from './kernel.js';
import { cacheDir } from './cache-dir.js';
import type { CpioEntry } from './cpio.js';
import { baseEntries, binaryWithLibs, busyboxEntries, moduleEntries, writeCachedArchive, LOAD_MODULES_SH } from './initramfs-parts.js';

export { appendFilesCpio } from './cpio.js';

/** Lines the init prints on the console; tests wait for them. */
export const INIT_READY_MARKER = 'KQUBES-INIT-READY';
export const INIT_DONE_MARKER = 'KQUBES-INIT-DONE';
/** Kernel command line words the init understands. */
export const CMDLINE_SHELL = 'kq.shell';
export const CMDLINE_REBOOT = 'kq.reboot';

/** Modules the test guests need, in the order asked; dependencies are added, built-in or absent ones skipped. */
export const TEST_GUEST_MODULES = [
  'virtio_mmio',
  'virtio_blk',
  'virtio_rng',
  'crc32c_generic', // ext4's metadata checksums ask the crypto API for crc32c, which would need modprobe
  'ext4',
  'vsock',
  'vmw_vsock_virtio_transport_common',
  'vmw_vsock_virtio_transport',
];

const SOCAT = '/usr/bin/socat';

/**
 * The guest's /init. Ends with `poweroff -f`, or `reboot -f` when the command line has kq.reboot (a VMM without
 * ACPI sees a reboot as a write to the i8042 with reboot=k, while a poweroff is only a halted CPU).
 */
export const TEST_INIT_SCRIPT = `#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up 2>/dev/null
${LOAD_MODULES_SH}
load_modules
echo ${INIT_READY_MARKER}
rc=0
if [ -f /test.sh ]; then
  sh /test.sh
  rc=$?
elif grep -qw ${CMDLINE_SHELL} /proc/cmdline; then
  setsid cttyhack sh
  rc=$?
fi
echo "${INIT_DONE_MARKER} rc=$rc"
sync
if grep -qw ${CMDLINE_REBOOT} /proc/cmdline; then reboot -f; fi
poweroff -f
`;

/**
 * Builds (or finds in the cache) the test initramfs for kernel `k` and returns its path: an uncompressed newc
 * archive, so a test can append its own files, e.g.
 * `Buffer.concat([fs.readFileSync(base), appendFilesCpio([{ path: '/test.sh', data: 'echo hi' }])])`.
 */
export async function ensureTestInitramfs(k: KernelArtifacts, log: (line: string) => void = () => {}): Promise<string> {
  const modules = moduleEntries(k.modulesDir, TEST_GUEST_MODULES, new Set(TEST_GUEST_MODULES));
  const socat = binaryWithLibs(SOCAT);
  const own = new Set(socat.map((e) => e.path.replace(/^\/+/, '')));
  const entries: CpioEntry[] = [
    ...baseEntries(),
    ...busyboxEntries(own),
    ...socat,
    ...modules.entries,
    { type: 'file', path: 'init', data: TEST_INIT_SCRIPT, mode: 0o755 },
  ];
  const { file, created } = writeCachedArchive(path.join(cacheDir(), 'initramfs'), `test-${k.version}`, entries);
  if (created) log(`test initramfs: wrote ${file} (modules: ${modules.order.join(' ')})`);
  return file;
}
