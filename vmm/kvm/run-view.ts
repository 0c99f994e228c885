// Compatibility name for the kvm_run view used by the vCPU loop (the class lives in run.ts as KvmRun).
export { KvmRun as KvmRunView, KvmRunError } from './run.js';
