// The typed KVM wrappers (kvm-ioctls style): Kvm -> VmFd -> VcpuFd, struct codecs, kvm_run view, constants.
export { Kvm, KvmError, KVM_DEVICE_PATH } from './kvm.js';
export { VmFd, type IoEventAddress, type IoEventDatamatch } from './vm.js';
export { VcpuFd } from './vcpu.js';
export { KvmRun, KvmRunError, KVM_RUN_OFFSET, KVM_RUN_SIZE } from './run.js';
export { decodeExit, type VcpuExit } from './exit.js';
export * from './constants.js';
export * from './structs.js';
export type * from './types.js';
