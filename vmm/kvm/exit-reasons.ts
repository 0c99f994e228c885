// Re-exports of the KVM exit reason numbers for the vCPU loop (their one home is constants.ts).
export { KVM_EXIT, KVM_SYSTEM_EVENT, KVM_INTERNAL_ERROR, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT } from './constants.js';
