// KVM ABI numbers, copied from the kernel uapi headers <linux/kvm.h> and <asm/kvm.h> (Linux 6.1).

/** KVM_GET_API_VERSION must return this (the API has been stable since 2.6.22). */
export const KVM_API_VERSION = 12;

/** The default x86 VM type for KVM_CREATE_VM. */
export const KVM_VM_TYPE_DEFAULT = 0;

/** kvm_run.exit_reason values (KVM_EXIT_*). */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  WATCHDOG: 21,
  SYSTEM_EVENT: 24,
  IOAPIC_EOI: 26,
  HYPERV: 27,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  DIRTY_RING_FULL: 31,
  AP_RESET_HOLD: 32,
  X86_BUS_LOCK: 33,
  NOTIFY: 37,
} as const;

/** kvm_run.io.direction (KVM_EXIT_IO_IN / KVM_EXIT_IO_OUT). */
export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

/** kvm_run.system_event.type (KVM_SYSTEM_EVENT_*). */
export const KVM_SYSTEM_EVENT = {
  SHUTDOWN: 1,
  RESET: 2,
  CRASH: 3,
  WAKEUP: 4,
  SUSPEND: 5,
  SEV_TERM: 6,
} as const;

/** kvm_run.internal.suberror (KVM_INTERNAL_ERROR_*). */
export const KVM_INTERNAL_ERROR = {
  EMULATION: 1,
  SIMUL_EX: 2,
  DELIVERY_EV: 3,
  UNEXPECTED_EXIT_REASON: 4,
} as const;

/** KVM_CHECK_EXTENSION capabilities (KVM_CAP_*), the ones this VMM asks about. */
export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  CLOCKSOURCE: 8,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  MP_STATE: 14,
  COALESCED_MMIO: 15,
  SYNC_MMU: 16,
  USER_NMI: 22,
  IRQ_ROUTING: 25,
  IRQFD: 32,
  PIT2: 33,
  PIT_STATE2: 35,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  ADJUST_CLOCK: 39,
  VCPU_EVENTS: 41,
  DEBUGREGS: 50,
  XSAVE: 55,
  XCRS: 56,
  TSC_CONTROL: 60,
  MAX_VCPUS: 66,
  TSC_DEADLINE_TIMER: 72,
  KVMCLOCK_CTRL: 76,
  SIGNAL_MSI: 77,
  READONLY_MEM: 81,
  SPLIT_IRQCHIP: 121,
  IOEVENTFD_ANY_LENGTH: 122,
  X2APIC_API: 129,
  IMMEDIATE_EXIT: 136,
  GET_MSR_FEATURES: 153,
} as const;

/** kvm_userspace_memory_region.flags (KVM_MEM_*). */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

/** kvm_ioeventfd.flags (KVM_IOEVENTFD_FLAG_*; bit numbers from enum kvm_ioeventfd_flag_nr_*). */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

/** kvm_irqfd.flags (KVM_IRQFD_FLAG_*). */
export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;
export const KVM_IRQFD_FLAG_RESAMPLE = 1 << 1;

/** kvm_pit_config.flags. */
export const KVM_PIT_SPEAKER_DUMMY = 1;

/** kvm_cpuid_entry2.flags (KVM_CPUID_FLAG_*). */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;

/** kvm_mp_state.mp_state (KVM_MP_STATE_*). */
export const KVM_MP_STATE = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
  STOPPED: 5,
  CHECK_STOP: 6,
  OPERATING: 7,
  LOAD: 8,
  AP_RESET_HOLD: 9,
  SUSPENDED: 10,
} as const;

/** The kernel's cap on kvm_cpuid2.nent (KVM_MAX_CPUID_ENTRIES in arch/x86/include/asm/kvm_host.h). */
export const KVM_MAX_CPUID_ENTRIES = 256;

/** The in-kernel irqchip ids (KVM_IRQCHIP_*). */
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;

/** Size of struct kvm_lapic_state (KVM_APIC_REG_SIZE). */
export const KVM_APIC_REG_SIZE = 0x400;

/** Syscall-level constants the wrappers pass to the addon (from <sys/mman.h>, <sys/eventfd.h>, <errno.h>). */
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
/** vcpuRun's result when KVM_RUN was interrupted (-EINTR). */
export const RUN_INTERRUPTED = -4;
