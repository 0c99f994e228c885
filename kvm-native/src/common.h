// Shared helpers of the addon: errno errors, JS argument checks, the registry of live mmap()s.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace kq {

// Throws a JS Error {code: "EINVAL", errno, syscall} for `err` (an errno value) from `syscall`.
[[noreturn]] void ThrowErrno(Napi::Env env, const char* syscall, int err);

// Argument checks: each throws TypeError (wrong type) or RangeError (out of range) naming `what`.
void RequireArgs(const Napi::CallbackInfo& info, size_t count);
int FdArg(const Napi::CallbackInfo& info, size_t i, const char* what);
int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t min, int64_t max);
uint64_t BigU64Arg(const Napi::CallbackInfo& info, size_t i, const char* what);
Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t i, const char* what);
// Like BytesArg, and the length must be exactly `size` (sizeof the kernel struct).
Napi::Uint8Array StructArg(const Napi::CallbackInfo& info, size_t i, const char* what, size_t size);

// A fresh Uint8Array holding a copy of `len` bytes at `src`.
Napi::Uint8Array CopyOut(Napi::Env env, const void* src, size_t len);

// Runs an ioctl, retrying on EINTR (every ioctl except KVM_RUN, whose EINTR the caller must see).
int IoctlRetry(int fd, unsigned long request, unsigned long arg);

// Registry of the mappings made by mmap() (process-wide, all threads): lets calls that hand a
// mapping's address to the kernel check that an ArrayBuffer really is one of ours and still mapped.
void RegisterMapping(void* addr, size_t len);
void UnregisterMapping(void* addr);
bool IsLiveMapping(const void* addr, size_t len);

// Per-fd-kind registration of the exported functions.
void RegisterSystem(Napi::Env env, Napi::Object exports);
void RegisterVm(Napi::Env env, Napi::Object exports);
void RegisterVcpu(Napi::Env env, Napi::Object exports);
void RegisterMemory(Napi::Env env, Napi::Object exports);
void RegisterEvents(Napi::Env env, Napi::Object exports);

}  // namespace kq
