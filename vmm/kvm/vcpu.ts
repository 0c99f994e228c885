// VcpuFd: a KVM vCPU fd (KVM_RUN, regs, sregs, FPU, CPUID, MSRs, LAPIC, MP state, the kvm_run mapping).
import { native } from '../../kvm-native/index.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE, RUN_INTERRUPTED } from './constants.js';
import { decodeExit, type VcpuExit } from './exit.js';
import { KvmRun } from './run.js';
import {
  decodeFpu, decodeMsrs, decodeRegs, decodeSregs, encodeCpuid2, encodeFpu, encodeMsrs, encodeRegs, encodeSregs,
} from './structs.js';
import type { CpuidEntry, KvmFpu, KvmRegs, KvmSregs, MsrEntry } from './types.js';

export class VcpuFd {
  private run_: KvmRun | undefined;
  private closed = false;

  /**
   * Wraps a vCPU fd (owned from now on). A worker thread that received the fd number builds its
   * own VcpuFd with the same three values; fds are process-wide, mappings are made per thread.
   */
  constructor(readonly fd: number, readonly id: number, readonly mmapSize: number) {}

  /** Maps this vCPU's kvm_run page for the calling thread (once per VcpuFd). */
  mapRun(): KvmRun {
    this.run_ ??= new KvmRun(native.mmap(this.mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, this.fd, 0n));
    return this.run_;
  }

  /** KVM_RUN: 0 after an exit (read it from mapRun()), RUN_INTERRUPTED (-4) on EINTR. */
  runRaw(): number {
    return native.vcpuRun(this.fd);
  }

  /** KVM_RUN and decode the exit. An interrupted run clears immediate_exit and returns {reason: 'intr'}. */
  run(): VcpuExit {
    const run = this.mapRun();
    if (native.vcpuRun(this.fd) === RUN_INTERRUPTED) {
      run.immediateExit = 0;
      return { reason: 'intr' };
    }
    return decodeExit(run);
  }

  getRegs(): KvmRegs {
    return decodeRegs(native.vcpuGetRegs(this.fd));
  }
  setRegs(regs: KvmRegs): void {
    native.vcpuSetRegs(this.fd, encodeRegs(regs));
  }

  getSregs(): KvmSregs {
    return decodeSregs(native.vcpuGetSregs(this.fd));
  }
  setSregs(sregs: KvmSregs): void {
    native.vcpuSetSregs(this.fd, encodeSregs(sregs));
  }

  getFpu(): KvmFpu {
    return decodeFpu(native.vcpuGetFpu(this.fd));
  }
  setFpu(fpu: KvmFpu): void {
    native.vcpuSetFpu(this.fd, encodeFpu(fpu));
  }

  setCpuid2(entries: readonly CpuidEntry[]): void {
    native.vcpuSetCpuid2(this.fd, encodeCpuid2(entries));
  }

  /** KVM_GET_MSRS for `indices`; returns the entries KVM read (stops at the first it cannot). */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    const bytes = encodeMsrs(indices.map((index) => ({ index, data: 0n })));
    const n = native.vcpuGetMsrs(this.fd, bytes);
    return decodeMsrs(bytes, n);
  }

  /** KVM_SET_MSRS; returns how many entries KVM wrote (fewer than given means one was refused). */
  setMsrs(entries: readonly MsrEntry[]): number {
    return native.vcpuSetMsrs(this.fd, encodeMsrs(entries));
  }

  /** KVM_GET_LAPIC: the raw 1024-byte kvm_lapic_state. */
  getLapic(): Uint8Array {
    return native.vcpuGetLapic(this.fd);
  }
  setLapic(lapic: Uint8Array): void {
    native.vcpuSetLapic(this.fd, lapic);
  }

  getMpState(): number {
    return native.vcpuGetMpState(this.fd);
  }
  setMpState(state: number): void {
    native.vcpuSetMpState(this.fd, state);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.fd);
  }
}
