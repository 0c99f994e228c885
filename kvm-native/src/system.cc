// System ioctls on the /dev/kvm fd: API version, capabilities, supported CPUID, MSR list, VM creation.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"
#include "kvm_abi.h"

namespace kq {
namespace {

// Upper bound on the entries a caller may ask KVM_GET_SUPPORTED_CPUID for (the kernel's own
// limit, KVM_MAX_CPUID_ENTRIES, is 256); bounds the buffer this file allocates.
constexpr int64_t kMaxCpuidEntries = 4096;
// Upper bound on the MSR index list we accept from the kernel.
constexpr uint32_t kMaxMsrIndices = 65536;

Napi::Value GetApiVersion(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "kvmFd");
  // Safe: KVM_GET_API_VERSION takes no argument and touches no memory.
  int r = IoctlRetry(fd, KVM_GET_API_VERSION, 0);
  if (r < 0) ThrowErrno(info.Env(), "KVM_GET_API_VERSION", errno);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "fd");
  unsigned long cap = static_cast<unsigned long>(IntArg(info, 1, "cap", 0, INT32_MAX));
  // Safe: the argument is a plain integer, no memory is passed.
  int r = IoctlRetry(fd, KVM_CHECK_EXTENSION, cap);
  if (r < 0) ThrowErrno(info.Env(), "KVM_CHECK_EXTENSION", errno);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value GetVcpuMmapSize(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "kvmFd");
  // Safe: no argument, no memory.
  int r = IoctlRetry(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (r < 0) ThrowErrno(info.Env(), "KVM_GET_VCPU_MMAP_SIZE", errno);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value GetSupportedCpuid(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "kvmFd");
  uint32_t max = static_cast<uint32_t>(IntArg(info, 1, "maxEntries", 1, kMaxCpuidEntries));
  size_t bytes = sizeof(CpuidHeader) + static_cast<size_t>(max) * sizeof(kvm_cpuid_entry2);
  // uint64_t elements keep the buffer 8-byte aligned for the header cast below.
  std::vector<uint64_t> buf((bytes + 7) / 8, 0);
  auto* header = reinterpret_cast<CpuidHeader*>(buf.data());
  header->nent = max;
  // Safe: the buffer holds the header plus `max` entries (C layout), and nent tells the kernel so.
  if (IoctlRetry(fd, kKvmGetSupportedCpuid, reinterpret_cast<unsigned long>(header)) < 0) {
    ThrowErrno(info.Env(), "KVM_GET_SUPPORTED_CPUID", errno);
  }
  // The kernel lowers nent to the count it filled; never trust it past what we allocated.
  uint32_t nent = header->nent <= max ? header->nent : max;
  return CopyOut(info.Env(), header, sizeof(CpuidHeader) + static_cast<size_t>(nent) * sizeof(kvm_cpuid_entry2));
}

Napi::Value GetMsrIndexList(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "kvmFd");
  // First call with nmsrs = 0: the kernel answers E2BIG and stores the count it needs.
  MsrListHeader probe{};
  // Safe: with nmsrs 0 the kernel writes only the header, which `probe` holds.
  int r = IoctlRetry(fd, kKvmGetMsrIndexList, reinterpret_cast<unsigned long>(&probe));
  if (r < 0 && errno != E2BIG) ThrowErrno(info.Env(), "KVM_GET_MSR_INDEX_LIST", errno);
  uint32_t n = probe.nmsrs;
  if (n > kMaxMsrIndices) ThrowErrno(info.Env(), "KVM_GET_MSR_INDEX_LIST", E2BIG);
  std::vector<uint32_t> buf(1 + static_cast<size_t>(n), 0);
  auto* list = reinterpret_cast<MsrListHeader*>(buf.data());
  list->nmsrs = n;
  // Safe: the buffer holds the 4-byte header plus n u32 indices (C layout), and nmsrs tells the kernel so.
  if (IoctlRetry(fd, kKvmGetMsrIndexList, reinterpret_cast<unsigned long>(list)) < 0) {
    ThrowErrno(info.Env(), "KVM_GET_MSR_INDEX_LIST", errno);
  }
  uint32_t got = list->nmsrs <= n ? list->nmsrs : n;
  Napi::Uint32Array out = Napi::Uint32Array::New(info.Env(), got);
  // Safe: `out` holds `got` u32s and buf holds at least 1 + got.
  if (got > 0) std::memcpy(out.Data(), buf.data() + 1, static_cast<size_t>(got) * sizeof(uint32_t));
  return out;
}

Napi::Value CreateVm(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "kvmFd");
  unsigned long type = static_cast<unsigned long>(IntArg(info, 1, "type", 0, INT32_MAX));
  // Safe: the argument is the VM type, an integer. The kernel returns a new O_CLOEXEC fd.
  int r = IoctlRetry(fd, KVM_CREATE_VM, type);
  if (r < 0) ThrowErrno(info.Env(), "KVM_CREATE_VM", errno);
  return Napi::Number::New(info.Env(), r);
}

}  // namespace

void RegisterSystem(Napi::Env env, Napi::Object exports) {
  exports.Set("kvmGetApiVersion", Napi::Function::New(env, GetApiVersion, "kvmGetApiVersion"));
  exports.Set("kvmCheckExtension", Napi::Function::New(env, CheckExtension, "kvmCheckExtension"));
  exports.Set("kvmGetVcpuMmapSize", Napi::Function::New(env, GetVcpuMmapSize, "kvmGetVcpuMmapSize"));
  exports.Set("kvmGetSupportedCpuid", Napi::Function::New(env, GetSupportedCpuid, "kvmGetSupportedCpuid"));
  exports.Set("kvmGetMsrIndexList", Napi::Function::New(env, GetMsrIndexList, "kvmGetMsrIndexList"));
  exports.Set("kvmCreateVm", Napi::Function::New(env, CreateVm, "kvmCreateVm"));
}

}  // namespace kq
