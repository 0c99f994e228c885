// The command lines the benchmarks boot: qvmm, and QEMU's microvm as the boot-time baseline.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is dist/bench/vm-commands.js once compiled). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const QVMM_BIN = path.join(REPO_ROOT, 'bin', 'qvmm.js');
export const GUEST_CMDLINE = 'console=ttyS0 reboot=k panic=-1 quiet';
export const GUEST_MEMORY_MIB = 256;
export const QEMU = 'qemu-system-x86_64';

export interface GuestFiles {
  readonly vmlinuz: string;
  readonly initrd: string;
}

export function qvmmCommand(g: GuestFiles, vcpus = 1): { cmd: string; args: string[] } {
  return {
    cmd: process.execPath,
    args: [QVMM_BIN, 'run', '--kernel', g.vmlinuz, '--initrd', g.initrd, '--append', GUEST_CMDLINE, '--memory', String(GUEST_MEMORY_MIB), '--vcpus', String(vcpus)],
  };
}

/**
 * QEMU microvm with KVM: pit=on (the kernel's TSC calibration needs it), pic=on and rtc=on (legacy interrupts and
 * clock, as qvmm offers), the serial on stdio, no default devices, no reboot (a guest reset ends QEMU).
 */
export function qemuMicrovmCommand(g: GuestFiles): { cmd: string; args: string[] } {
  return {
    cmd: QEMU,
    args: [
      '-M', 'microvm,pit=on,pic=on,rtc=on', '-enable-kvm', '-cpu', 'host', '-m', String(GUEST_MEMORY_MIB),
      '-nodefaults', '-no-user-config', '-nographic', '-serial', 'stdio',
      '-kernel', g.vmlinuz, '-initrd', g.initrd, '-append', GUEST_CMDLINE, '-no-reboot',
    ],
  };
}
