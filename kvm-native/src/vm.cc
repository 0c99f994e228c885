// VM fd ioctls: TSS/identity map, irqchip, PIT, memory slots, IRQ lines, irqfd, ioeventfd, vCPU creation.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "common.h"

namespace kq {
namespace {

Napi::Value SetTssAddr(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vmFd");
  unsigned long addr = static_cast<unsigned long>(IntArg(info, 1, "addr", 0, UINT32_MAX));
  // Safe: the argument is a guest-physical address passed by value.
  if (IoctlRetry(fd, KVM_SET_TSS_ADDR, addr) < 0) ThrowErrno(info.Env(), "KVM_SET_TSS_ADDR", errno);
  return info.Env().Undefined();
}

Napi::Value SetIdentityMapAddr(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vmFd");
  __u64 addr = BigU64Arg(info, 1, "addr");
  // Safe: the kernel reads one u64 from &addr, a live local.
  if (IoctlRetry(fd, KVM_SET_IDENTITY_MAP_ADDR, reinterpret_cast<unsigned long>(&addr)) < 0) {
    ThrowErrno(info.Env(), "KVM_SET_IDENTITY_MAP_ADDR", errno);
  }
  return info.Env().Undefined();
}

Napi::Value CreateIrqchip(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "vmFd");
  // Safe: no argument.
  if (IoctlRetry(fd, KVM_CREATE_IRQCHIP, 0) < 0) ThrowErrno(info.Env(), "KVM_CREATE_IRQCHIP", errno);
  return info.Env().Undefined();
}

Napi::Value CreatePit2(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vmFd");
  kvm_pit_config config{};
  config.flags = static_cast<__u32>(IntArg(info, 1, "flags", 0, UINT32_MAX));
  // Safe: the kernel reads sizeof(kvm_pit_config) bytes from a zeroed local.
  if (IoctlRetry(fd, KVM_CREATE_PIT2, reinterpret_cast<unsigned long>(&config)) < 0) {
    ThrowErrno(info.Env(), "KVM_CREATE_PIT2", errno);
  }
  return info.Env().Undefined();
}

Napi::Value SetUserMemoryRegion(const Napi::CallbackInfo& info) {
  RequireArgs(info, 5);
  int fd = FdArg(info, 0, "vmFd");
  kvm_userspace_memory_region region{};
  region.slot = static_cast<__u32>(IntArg(info, 1, "slot", 0, UINT32_MAX));
  region.flags = static_cast<__u32>(IntArg(info, 2, "flags", 0, UINT32_MAX));
  region.guest_phys_addr = BigU64Arg(info, 3, "guestPhysAddr");
  if (info[4].IsNull()) {
    // Deleting the slot: size 0, no userspace address.
    region.memory_size = 0;
    region.userspace_addr = 0;
  } else {
    if (!info[4].IsArrayBuffer()) {
      throw Napi::TypeError::New(info.Env(), "argument 4 (mem) must be an ArrayBuffer from mmap() or null");
    }
    Napi::ArrayBuffer mem = info[4].As<Napi::ArrayBuffer>();
    // Only a live mapping made by mmap() may be handed to KVM: any other ArrayBuffer's memory
    // belongs to the JS heap and could be freed or moved while the guest still uses it.
    if (!IsLiveMapping(mem.Data(), mem.ByteLength())) {
      throw Napi::TypeError::New(info.Env(), "argument 4 (mem) is not a live mapping returned by mmap()");
    }
    region.memory_size = mem.ByteLength();
    region.userspace_addr = reinterpret_cast<__u64>(mem.Data());
  }
  // Safe: the kernel reads the struct from a local; the userspace range is a whole live mapping.
  if (IoctlRetry(fd, KVM_SET_USER_MEMORY_REGION, reinterpret_cast<unsigned long>(&region)) < 0) {
    ThrowErrno(info.Env(), "KVM_SET_USER_MEMORY_REGION", errno);
  }
  return info.Env().Undefined();
}

Napi::Value IrqLine(const Napi::CallbackInfo& info) {
  RequireArgs(info, 3);
  int fd = FdArg(info, 0, "vmFd");
  kvm_irq_level level{};
  level.irq = static_cast<__u32>(IntArg(info, 1, "irq", 0, UINT32_MAX));
  level.level = static_cast<__u32>(IntArg(info, 2, "level", 0, 1));
  // Safe: the kernel reads (and for KVM_IRQ_LINE_STATUS would write) a local struct.
  if (IoctlRetry(fd, KVM_IRQ_LINE, reinterpret_cast<unsigned long>(&level)) < 0) {
    ThrowErrno(info.Env(), "KVM_IRQ_LINE", errno);
  }
  return info.Env().Undefined();
}

Napi::Value Irqfd(const Napi::CallbackInfo& info) {
  RequireArgs(info, 4);
  int fd = FdArg(info, 0, "vmFd");
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<__u32>(FdArg(info, 1, "eventFd"));
  irqfd.gsi = static_cast<__u32>(IntArg(info, 2, "gsi", 0, UINT32_MAX));
  irqfd.flags = static_cast<__u32>(IntArg(info, 3, "flags", 0, UINT32_MAX));
  // Safe: the kernel reads a zeroed local struct (resamplefd unused).
  if (IoctlRetry(fd, KVM_IRQFD, reinterpret_cast<unsigned long>(&irqfd)) < 0) {
    ThrowErrno(info.Env(), "KVM_IRQFD", errno);
  }
  return info.Env().Undefined();
}

Napi::Value Ioeventfd(const Napi::CallbackInfo& info) {
  RequireArgs(info, 6);
  int fd = FdArg(info, 0, "vmFd");
  kvm_ioeventfd ioeventfd{};
  ioeventfd.fd = FdArg(info, 1, "eventFd");
  ioeventfd.addr = BigU64Arg(info, 2, "addr");
  int64_t len = IntArg(info, 3, "len", 0, 8);
  if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8) {
    throw Napi::RangeError::New(info.Env(), "argument 3 (len) must be 0, 1, 2, 4 or 8");
  }
  ioeventfd.len = static_cast<__u32>(len);
  ioeventfd.flags = static_cast<__u32>(IntArg(info, 4, "flags", 0, UINT32_MAX));
  ioeventfd.datamatch = BigU64Arg(info, 5, "datamatch");
  // Safe: the kernel reads a zeroed local struct.
  if (IoctlRetry(fd, KVM_IOEVENTFD, reinterpret_cast<unsigned long>(&ioeventfd)) < 0) {
    ThrowErrno(info.Env(), "KVM_IOEVENTFD", errno);
  }
  return info.Env().Undefined();
}

Napi::Value CreateVcpu(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vmFd");
  unsigned long id = static_cast<unsigned long>(IntArg(info, 1, "vcpuId", 0, INT32_MAX));
  // Safe: the argument is the vCPU id by value. The kernel returns a new O_CLOEXEC fd.
  int r = IoctlRetry(fd, KVM_CREATE_VCPU, id);
  if (r < 0) ThrowErrno(info.Env(), "KVM_CREATE_VCPU", errno);
  return Napi::Number::New(info.Env(), r);
}

}  // namespace

void RegisterVm(Napi::Env env, Napi::Object exports) {
  exports.Set("vmSetTssAddr", Napi::Function::New(env, SetTssAddr, "vmSetTssAddr"));
  exports.Set("vmSetIdentityMapAddr", Napi::Function::New(env, SetIdentityMapAddr, "vmSetIdentityMapAddr"));
  exports.Set("vmCreateIrqchip", Napi::Function::New(env, CreateIrqchip, "vmCreateIrqchip"));
  exports.Set("vmCreatePit2", Napi::Function::New(env, CreatePit2, "vmCreatePit2"));
  exports.Set("vmSetUserMemoryRegion", Napi::Function::New(env, SetUserMemoryRegion, "vmSetUserMemoryRegion"));
  exports.Set("vmIrqLine", Napi::Function::New(env, IrqLine, "vmIrqLine"));
  exports.Set("vmIrqfd", Napi::Function::New(env, Irqfd, "vmIrqfd"));
  exports.Set("vmIoeventfd", Napi::Function::New(env, Ioeventfd, "vmIoeventfd"));
  exports.Set("vmCreateVcpu", Napi::Function::New(env, CreateVcpu, "vmCreateVcpu"));
}

}  // namespace kq
