// vCPU fd ioctls: KVM_RUN, registers, FPU, CPUID, MSRs, local APIC, MP state.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "kvm_abi.h"

namespace kq {
namespace {

// Reads a struct of type T with a get-ioctl into a local and returns a copy of its bytes.
template <typename T>
Napi::Value GetStruct(const Napi::CallbackInfo& info, unsigned long request, const char* name) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "vcpuFd");
  T value{};
  // Safe: the kernel writes exactly sizeof(T) bytes into a local of type T.
  if (IoctlRetry(fd, request, reinterpret_cast<unsigned long>(&value)) < 0) ThrowErrno(info.Env(), name, errno);
  return CopyOut(info.Env(), &value, sizeof(T));
}

// Copies sizeof(T) bytes from a Uint8Array into an aligned local and passes it to a set-ioctl.
template <typename T>
Napi::Value SetStruct(const Napi::CallbackInfo& info, unsigned long request, const char* name, const char* what) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vcpuFd");
  Napi::Uint8Array bytes = StructArg(info, 1, what, sizeof(T));
  T value{};
  // Safe: StructArg checked that `bytes` holds exactly sizeof(T) bytes.
  std::memcpy(&value, bytes.Data(), sizeof(T));
  // Safe: the kernel reads sizeof(T) bytes from the local.
  if (IoctlRetry(fd, request, reinterpret_cast<unsigned long>(&value)) < 0) ThrowErrno(info.Env(), name, errno);
  return info.Env().Undefined();
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "vcpuFd");
  // Safe: KVM_RUN takes no argument; its results go to the vCPU's mmapped kvm_run page.
  // No EINTR retry here: EINTR is how a kick (signal or immediate_exit) reaches the caller.
  if (ioctl(fd, KVM_RUN, 0) < 0) {
    if (errno == EINTR) return Napi::Number::New(info.Env(), -EINTR);
    ThrowErrno(info.Env(), "KVM_RUN", errno);
  }
  return Napi::Number::New(info.Env(), 0);
}

Napi::Value GetRegs(const Napi::CallbackInfo& info) { return GetStruct<kvm_regs>(info, KVM_GET_REGS, "KVM_GET_REGS"); }
Napi::Value SetRegs(const Napi::CallbackInfo& info) {
  return SetStruct<kvm_regs>(info, KVM_SET_REGS, "KVM_SET_REGS", "regs");
}
Napi::Value GetSregs(const Napi::CallbackInfo& info) {
  return GetStruct<kvm_sregs>(info, KVM_GET_SREGS, "KVM_GET_SREGS");
}
Napi::Value SetSregs(const Napi::CallbackInfo& info) {
  return SetStruct<kvm_sregs>(info, KVM_SET_SREGS, "KVM_SET_SREGS", "sregs");
}
Napi::Value GetFpu(const Napi::CallbackInfo& info) { return GetStruct<kvm_fpu>(info, KVM_GET_FPU, "KVM_GET_FPU"); }
Napi::Value SetFpu(const Napi::CallbackInfo& info) {
  return SetStruct<kvm_fpu>(info, KVM_SET_FPU, "KVM_SET_FPU", "fpu");
}
Napi::Value GetLapic(const Napi::CallbackInfo& info) {
  return GetStruct<kvm_lapic_state>(info, KVM_GET_LAPIC, "KVM_GET_LAPIC");
}
Napi::Value SetLapic(const Napi::CallbackInfo& info) {
  return SetStruct<kvm_lapic_state>(info, KVM_SET_LAPIC, "KVM_SET_LAPIC", "lapic");
}

// Copies a variable-length struct (u32 count at offset 0, then count entries of `entrySize`
// bytes after a `headerSize`-byte header) into an 8-byte-aligned buffer, after checking that the
// count matches the byte length. Returns the buffer and stores the count.
std::vector<uint64_t> CopyCounted(const Napi::CallbackInfo& info, size_t i, const char* what, size_t headerSize,
                                  size_t entrySize, uint32_t* count) {
  Napi::Uint8Array bytes = BytesArg(info, i, what);
  size_t len = bytes.ByteLength();
  if (len < headerSize) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be at least " + std::to_string(headerSize) + " bytes");
  }
  uint32_t n = 0;
  // Safe: len >= headerSize >= 4, so the first 4 bytes exist; memcpy avoids an unaligned read.
  std::memcpy(&n, bytes.Data(), sizeof n);
  if ((len - headerSize) % entrySize != 0 || (len - headerSize) / entrySize != n) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + ": count " + std::to_string(n) +
                                                " does not match byte length " + std::to_string(len));
  }
  std::vector<uint64_t> buf((len + 7) / 8, 0);
  // Safe: buf holds at least len bytes.
  std::memcpy(buf.data(), bytes.Data(), len);
  *count = n;
  return buf;
}

Napi::Value SetCpuid2(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vcpuFd");
  uint32_t n = 0;
  std::vector<uint64_t> buf = CopyCounted(info, 1, "cpuid", sizeof(CpuidHeader), sizeof(kvm_cpuid_entry2), &n);
  // Safe: buf holds the header plus exactly nent entries (checked by CopyCounted).
  if (IoctlRetry(fd, kKvmSetCpuid2, reinterpret_cast<unsigned long>(buf.data())) < 0) {
    ThrowErrno(info.Env(), "KVM_SET_CPUID2", errno);
  }
  return info.Env().Undefined();
}

// KVM_GET_MSRS / KVM_SET_MSRS: the kernel reads the indices and (for GET) writes the data back,
// so the result is copied into the caller's Uint8Array in place.
Napi::Value Msrs(const Napi::CallbackInfo& info, unsigned long request, const char* name) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vcpuFd");
  uint32_t n = 0;
  std::vector<uint64_t> buf = CopyCounted(info, 1, "msrs", sizeof(MsrsHeader), sizeof(kvm_msr_entry), &n);
  // Safe: buf holds the header plus exactly nmsrs entries (checked by CopyCounted).
  int r = IoctlRetry(fd, request, reinterpret_cast<unsigned long>(buf.data()));
  if (r < 0) ThrowErrno(info.Env(), name, errno);
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  // Safe: the caller's array has the same byte length that was copied into buf.
  std::memcpy(bytes.Data(), buf.data(), bytes.ByteLength());
  return Napi::Number::New(info.Env(), r);
}

Napi::Value GetMsrs(const Napi::CallbackInfo& info) { return Msrs(info, kKvmGetMsrs, "KVM_GET_MSRS"); }
Napi::Value SetMsrs(const Napi::CallbackInfo& info) { return Msrs(info, kKvmSetMsrs, "KVM_SET_MSRS"); }

Napi::Value GetMpState(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "vcpuFd");
  kvm_mp_state state{};
  // Safe: the kernel writes one kvm_mp_state into a local.
  if (IoctlRetry(fd, KVM_GET_MP_STATE, reinterpret_cast<unsigned long>(&state)) < 0) {
    ThrowErrno(info.Env(), "KVM_GET_MP_STATE", errno);
  }
  return Napi::Number::New(info.Env(), state.mp_state);
}

Napi::Value SetMpState(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "vcpuFd");
  kvm_mp_state state{};
  state.mp_state = static_cast<__u32>(IntArg(info, 1, "state", 0, UINT32_MAX));
  // Safe: the kernel reads one kvm_mp_state from a local.
  if (IoctlRetry(fd, KVM_SET_MP_STATE, reinterpret_cast<unsigned long>(&state)) < 0) {
    ThrowErrno(info.Env(), "KVM_SET_MP_STATE", errno);
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterVcpu(Napi::Env env, Napi::Object exports) {
  exports.Set("vcpuRun", Napi::Function::New(env, Run, "vcpuRun"));
  exports.Set("vcpuGetRegs", Napi::Function::New(env, GetRegs, "vcpuGetRegs"));
  exports.Set("vcpuSetRegs", Napi::Function::New(env, SetRegs, "vcpuSetRegs"));
  exports.Set("vcpuGetSregs", Napi::Function::New(env, GetSregs, "vcpuGetSregs"));
  exports.Set("vcpuSetSregs", Napi::Function::New(env, SetSregs, "vcpuSetSregs"));
  exports.Set("vcpuGetFpu", Napi::Function::New(env, GetFpu, "vcpuGetFpu"));
  exports.Set("vcpuSetFpu", Napi::Function::New(env, SetFpu, "vcpuSetFpu"));
  exports.Set("vcpuSetCpuid2", Napi::Function::New(env, SetCpuid2, "vcpuSetCpuid2"));
  exports.Set("vcpuGetMsrs", Napi::Function::New(env, GetMsrs, "vcpuGetMsrs"));
  exports.Set("vcpuSetMsrs", Napi::Function::New(env, SetMsrs, "vcpuSetMsrs"));
  exports.Set("vcpuGetLapic", Napi::Function::New(env, GetLapic, "vcpuGetLapic"));
  exports.Set("vcpuSetLapic", Napi::Function::New(env, SetLapic, "vcpuSetLapic"));
  exports.Set("vcpuGetMpState", Napi::Function::New(env, GetMpState, "vcpuGetMpState"));
  exports.Set("vcpuSetMpState", Napi::Function::New(env, SetMpState, "vcpuSetMpState"));
}

}  // namespace kq
