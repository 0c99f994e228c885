// The addon's native surface, declared by hand (one entry per syscall or ioctl, plus marshalling).
// Every function is synchronous. On failure it throws a NativeError: `code` is the errno name
// ("EINVAL"), `errno` the number, `syscall` the ioctl or syscall name ("KVM_CREATE_VM").
// Struct-valued ioctls take and return the kernel's raw struct bytes; TypeScript codecs in vmm/kvm/
// encode and decode them, and the addon only checks that the byte length equals sizeof(struct).

export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface KvmNative {
  // --- system (fd of /dev/kvm, opened from JS with fs.openSync) ---
  /** KVM_GET_API_VERSION */
  kvmGetApiVersion(kvmFd: number): number;
  /** KVM_CHECK_EXTENSION on the system or a VM fd */
  kvmCheckExtension(fd: number, cap: number): number;
  /** KVM_GET_VCPU_MMAP_SIZE */
  kvmGetVcpuMmapSize(kvmFd: number): number;
  /**
   * KVM_GET_SUPPORTED_CPUID: raw struct kvm_cpuid2 (8-byte header + nent * 40-byte entries), nent being
   * the count KVM filled. maxEntries 1..4096; throws code E2BIG when maxEntries is too small.
   */
  kvmGetSupportedCpuid(kvmFd: number, maxEntries: number): Uint8Array;
  /** KVM_GET_MSR_INDEX_LIST: the MSR indices KVM can save/restore */
  kvmGetMsrIndexList(kvmFd: number): Uint32Array;
  /** KVM_CREATE_VM; returns the VM fd */
  kvmCreateVm(kvmFd: number, type: number): number;

  // --- VM ---
  /** KVM_SET_TSS_ADDR */
  vmSetTssAddr(vmFd: number, addr: number): void;
  /** KVM_SET_IDENTITY_MAP_ADDR */
  vmSetIdentityMapAddr(vmFd: number, addr: bigint): void;
  /** KVM_CREATE_IRQCHIP */
  vmCreateIrqchip(vmFd: number): void;
  /** KVM_CREATE_PIT2 */
  vmCreatePit2(vmFd: number, flags: number): void;
  /**
   * KVM_SET_USER_MEMORY_REGION; the userspace address and size are those of `mem`, a mapping
   * returned by mmap() (so no raw pointer ever comes from JS). size 0 (mem = null) deletes the slot.
   * Any other ArrayBuffer (JS heap memory, or a mapping already unmapped) is refused with a TypeError.
   * The caller must keep `mem` referenced while the slot exists: the mapping is unmapped when it is collected.
   */
  vmSetUserMemoryRegion(vmFd: number, slot: number, flags: number, guestPhysAddr: bigint, mem: ArrayBuffer | null): void;
  /** KVM_IRQ_LINE */
  vmIrqLine(vmFd: number, irq: number, level: number): void;
  /** KVM_IRQFD */
  vmIrqfd(vmFd: number, eventFd: number, gsi: number, flags: number): void;
  /** KVM_IOEVENTFD; len 0 (any length), 1, 2, 4 or 8; flags KVM_IOEVENTFD_FLAG_* */
  vmIoeventfd(vmFd: number, eventFd: number, addr: bigint, len: number, flags: number, datamatch: bigint): void;
  /** KVM_CREATE_VCPU; returns the vCPU fd */
  vmCreateVcpu(vmFd: number, vcpuId: number): number;

  // --- vCPU ---
  /**
   * KVM_RUN. Returns 0 when the vCPU exited (read exit_reason from the mmapped kvm_run), or
   * -4 (-EINTR) when a signal or immediate_exit interrupted it; any other failure throws.
   */
  vcpuRun(vcpuFd: number): number;
  /** KVM_GET_REGS / KVM_SET_REGS: struct kvm_regs (144 bytes) */
  vcpuGetRegs(vcpuFd: number): Uint8Array;
  vcpuSetRegs(vcpuFd: number, regs: Uint8Array): void;
  /** KVM_GET_SREGS / KVM_SET_SREGS: struct kvm_sregs (312 bytes) */
  vcpuGetSregs(vcpuFd: number): Uint8Array;
  vcpuSetSregs(vcpuFd: number, sregs: Uint8Array): void;
  /** KVM_GET_FPU / KVM_SET_FPU: struct kvm_fpu (416 bytes) */
  vcpuGetFpu(vcpuFd: number): Uint8Array;
  vcpuSetFpu(vcpuFd: number, fpu: Uint8Array): void;
  /** KVM_SET_CPUID2: raw struct kvm_cpuid2 (8 + nent * 40 bytes; nent checked against the length) */
  vcpuSetCpuid2(vcpuFd: number, cpuid: Uint8Array): void;
  /**
   * KVM_GET_MSRS / KVM_SET_MSRS: raw struct kvm_msrs (8 + nmsrs * 16 bytes; nmsrs checked against the
   * length); returns the count processed. KVM_GET_MSRS writes the data fields back into `msrs` in place.
   */
  vcpuGetMsrs(vcpuFd: number, msrs: Uint8Array): number;
  vcpuSetMsrs(vcpuFd: number, msrs: Uint8Array): number;
  /** KVM_GET_LAPIC / KVM_SET_LAPIC: struct kvm_lapic_state (1024 bytes) */
  vcpuGetLapic(vcpuFd: number): Uint8Array;
  vcpuSetLapic(vcpuFd: number, lapic: Uint8Array): void;
  /** KVM_GET_MP_STATE / KVM_SET_MP_STATE */
  vcpuGetMpState(vcpuFd: number): number;
  vcpuSetMpState(vcpuFd: number, state: number): void;

  // --- memory ---
  /** memfd_create(name, flags); returns the fd */
  memfdCreate(name: string, flags: number): number;
  /** ftruncate(fd, size) */
  ftruncate(fd: number, size: bigint): void;
  /**
   * mmap(NULL, length, prot, flags, fd, offset) as an external ArrayBuffer; munmap runs when the buffer
   * is garbage-collected. fd -1 with MAP_ANONYMOUS for anonymous memory. Each worker thread may map the
   * same memfd for itself (MAP_SHARED), which is how every thread sees guest RAM.
   * prot may hold only PROT_READ|PROT_WRITE and flags never MAP_FIXED (RangeError otherwise).
   */
  mmap(length: number, prot: number, flags: number, fd: number, offset: bigint): ArrayBuffer;
  /** madvise(mapping + offset, length, advice); `mem` must be a live mapping from mmap() and the range inside it */
  madvise(mem: ArrayBuffer, offset: number, length: number, advice: number): void;

  // --- eventfd, poll, fds ---
  /** eventfd(initval, flags) */
  eventfd(initval: number, flags: number): number;
  /** write(fd, &u64, 8) */
  eventfdWrite(fd: number, value: bigint): void;
  /** read(fd, &u64, 8); returns null on EAGAIN for a non-blocking eventfd */
  eventfdRead(fd: number): bigint | null;
  /**
   * poll(fds, nfds, timeoutMs). `fds` holds fd numbers, `events` the requested events; on return
   * `revents` is filled in place. Returns the number of ready fds; 0 on timeout; -4 on EINTR.
   */
  poll(fds: Int32Array, events: Int16Array, revents: Int16Array, timeoutMs: number): number;
  /** close(fd) */
  close(fd: number): void;

  // --- threads and signals (kicking a vCPU out of KVM_RUN) ---
  /** gettid() of the calling thread */
  gettid(): number;
  /**
   * sigaction(signo) with an empty handler and without SA_RESTART, so a blocked ioctl returns EINTR.
   * Only real-time signals (sigrtmin()..SIGRTMAX) are accepted: Node and libuv own the others.
   */
  installNoopSignalHandler(signo: number): void;
  /** tgkill(getpid(), tid, signo); signo 0 or a real-time signal */
  tgkill(tid: number, signo: number): void;
  /** SIGRTMIN as the C library defines it at run time */
  sigrtmin(): number;
}
