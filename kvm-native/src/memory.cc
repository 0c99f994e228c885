// Memory syscalls: memfd_create, ftruncate, mmap as an external ArrayBuffer (munmap on GC), madvise.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common.h"

namespace kq {
namespace {

// memfd_create limits the name to 249 bytes (NAME_MAX minus the "memfd:" prefix).
constexpr size_t kMaxMemfdName = 249;
// The largest length an ArrayBuffer can have here (Number.MAX_SAFE_INTEGER).
constexpr int64_t kMaxMapLength = (int64_t{1} << 53) - 1;

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "argument 0 (name) must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name.size() > kMaxMemfdName || name.find('\0') != std::string::npos) {
    throw Napi::RangeError::New(info.Env(), "argument 0 (name) must be at most 249 bytes with no NUL");
  }
  unsigned int flags = static_cast<unsigned int>(IntArg(info, 1, "flags", 0, UINT32_MAX));
  // Safe: name is a NUL-terminated std::string that outlives the call.
  int fd = memfd_create(name.c_str(), flags);
  if (fd < 0) ThrowErrno(info.Env(), "memfd_create", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "fd");
  uint64_t size = BigU64Arg(info, 1, "size");
  if (size > static_cast<uint64_t>(INT64_MAX)) throw Napi::RangeError::New(info.Env(), "argument 1 (size) too large");
  // Safe: a plain syscall on an fd with an integer size.
  int r;
  do {
    r = ftruncate(fd, static_cast<off_t>(size));
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(info.Env(), "ftruncate", errno);
  return info.Env().Undefined();
}

void FinalizeMapping(Napi::Env /*env*/, void* addr, size_t* len) {
  // Runs once, when the ArrayBuffer is collected: no JS can reach the memory any more.
  UnregisterMapping(addr);
  munmap(addr, *len);
  delete len;
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  RequireArgs(info, 5);
  size_t length = static_cast<size_t>(IntArg(info, 0, "length", 1, kMaxMapLength));
  int prot = static_cast<int>(IntArg(info, 1, "prot", 0, INT32_MAX));
  int flags = static_cast<int>(IntArg(info, 2, "flags", 0, INT32_MAX));
  int fd = static_cast<int>(IntArg(info, 3, "fd", -1, INT32_MAX));
  uint64_t offset = BigU64Arg(info, 4, "offset");
  // No executable mappings, and no MAP_FIXED: JS must never be able to replace an existing
  // host mapping or make host memory executable.
  if ((prot & ~(PROT_READ | PROT_WRITE)) != 0) {
    throw Napi::RangeError::New(info.Env(), "argument 1 (prot) may only hold PROT_READ and PROT_WRITE");
  }
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) {
    throw Napi::RangeError::New(info.Env(), "argument 2 (flags) must not hold MAP_FIXED");
  }
  if ((fd == -1) != ((flags & MAP_ANONYMOUS) != 0)) {
    throw Napi::RangeError::New(info.Env(), "argument 3 (fd) must be -1 exactly when flags hold MAP_ANONYMOUS");
  }
  if (offset > static_cast<uint64_t>(INT64_MAX)) throw Napi::RangeError::New(info.Env(), "argument 4 (offset) too large");
  // Safe: the kernel picks the address (no MAP_FIXED); the result is a fresh mapping of `length`
  // bytes that only the ArrayBuffer below refers to, unmapped by its finalizer.
  void* addr = mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) ThrowErrno(info.Env(), "mmap", errno);
  RegisterMapping(addr, length);
  size_t* hint = new size_t(length);
  try {
    return Napi::ArrayBuffer::New(info.Env(), addr, length, FinalizeMapping, hint);
  } catch (...) {
    UnregisterMapping(addr);
    munmap(addr, length);
    delete hint;
    throw;
  }
}

Napi::Value Madvise(const Napi::CallbackInfo& info) {
  RequireArgs(info, 4);
  if (!info[0].IsArrayBuffer()) throw Napi::TypeError::New(info.Env(), "argument 0 (mem) must be an ArrayBuffer");
  Napi::ArrayBuffer mem = info[0].As<Napi::ArrayBuffer>();
  size_t size = mem.ByteLength();
  if (!IsLiveMapping(mem.Data(), size)) {
    throw Napi::TypeError::New(info.Env(), "argument 0 (mem) is not a live mapping returned by mmap()");
  }
  size_t offset = static_cast<size_t>(IntArg(info, 1, "offset", 0, kMaxMapLength));
  size_t length = static_cast<size_t>(IntArg(info, 2, "length", 0, kMaxMapLength));
  int advice = static_cast<int>(IntArg(info, 3, "advice", 0, INT32_MAX));
  if (offset > size || length > size - offset) {
    throw Napi::RangeError::New(info.Env(), "madvise range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                                                ") outside the " + std::to_string(size) + "-byte mapping");
  }
  // Safe: [offset, offset+length) lies inside a live mapping of ours (checked above).
  if (madvise(static_cast<char*>(mem.Data()) + offset, length, advice) < 0) ThrowErrno(info.Env(), "madvise", errno);
  return info.Env().Undefined();
}

}  // namespace

void RegisterMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("ftruncate", Napi::Function::New(env, Ftruncate, "ftruncate"));
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("madvise", Napi::Function::New(env, Madvise, "madvise"));
}

}  // namespace kq
