// Kvm: the /dev/kvm system fd (API version, capabilities, supported CPUID, MSR list, VM creation).
import fs from 'node:fs';
import { native, type NativeError } from '../../kvm-native/index.js';
import { KVM_API_VERSION, KVM_MAX_CPUID_ENTRIES, KVM_VM_TYPE_DEFAULT } from './constants.js';
import { decodeCpuid2 } from './structs.js';
import type { CpuidEntry } from './types.js';
import { VmFd } from './vm.js';

export const KVM_DEVICE_PATH = '/dev/kvm';
/** supportedCpuid grows its buffer up to this many entries when the kernel answers E2BIG. */
const CPUID_ENTRIES_LIMIT = 4096;

export class KvmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvmError';
  }
}

function isNativeError(e: unknown, code: string): e is NativeError {
  return e instanceof Error && (e as Partial<NativeError>).code === code;
}

export class Kvm {
  private closed = false;

  /** Wraps an open /dev/kvm fd (owned from now on). Use Kvm.open() normally. */
  constructor(readonly fd: number) {}

  /** Opens /dev/kvm read-write (close-on-exec) and checks the API version. */
  static open(path = KVM_DEVICE_PATH): Kvm {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new KvmError(`${path} does not exist: this machine offers no KVM (load kvm-intel or kvm-amd, or run inside the emulated KVM host: npm run kvm-host -- CMD)`);
      if (code === 'EACCES' || code === 'EPERM') throw new KvmError(`no permission to open ${path}: run as root or join the kvm group`);
      throw e;
    }
    const kvm = new Kvm(fd);
    try {
      const version = kvm.apiVersion();
      if (version !== KVM_API_VERSION) throw new KvmError(`${path}: KVM API version ${version}, expected ${KVM_API_VERSION}`);
    } catch (e) {
      kvm.close();
      throw e;
    }
    return kvm;
  }

  apiVersion(): number {
    return native.kvmGetApiVersion(this.fd);
  }

  /** KVM_CHECK_EXTENSION: 0 when unsupported, else a capability-specific positive value. */
  checkExtension(cap: number): number {
    return native.kvmCheckExtension(this.fd, cap);
  }

  /** Size of the kvm_run mapping of each vCPU fd. */
  vcpuMmapSize(): number {
    return native.kvmGetVcpuMmapSize(this.fd);
  }

  /** KVM_GET_SUPPORTED_CPUID, retried with a bigger buffer while the kernel answers E2BIG. */
  supportedCpuid(): CpuidEntry[] {
    for (let max = KVM_MAX_CPUID_ENTRIES; ; max *= 2) {
      try {
        return decodeCpuid2(native.kvmGetSupportedCpuid(this.fd, max));
      } catch (e) {
        if (!isNativeError(e, 'E2BIG') || max * 2 > CPUID_ENTRIES_LIMIT) throw e;
      }
    }
  }

  /** KVM_GET_MSR_INDEX_LIST: the MSRs KVM can save and restore. */
  msrIndexList(): number[] {
    return Array.from(native.kvmGetMsrIndexList(this.fd));
  }

  /** KVM_CREATE_VM; the VmFd knows the vCPU mmap size so its vCPUs can map kvm_run. */
  createVm(type = KVM_VM_TYPE_DEFAULT): VmFd {
    const vmFd = native.kvmCreateVm(this.fd, type);
    return new VmFd(vmFd, this.vcpuMmapSize());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
