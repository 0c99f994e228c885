// Shared helpers of the addon: errno errors, JS argument checks, the registry of live mmap()s.
#include "common.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace kq {

namespace {

std::string ErrnoName(int err) {
  // strerrorname_np (glibc >= 2.32) returns a static string or NULL for unknown values.
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

std::string ErrnoText(int err) {
  // strerror_r (GNU variant) returns either `buf` or a static string; both outlive this call.
  char buf[128];
  const char* text = strerror_r(err, buf, sizeof buf);
  return text != nullptr ? text : "unknown error";
}

std::string ArgName(size_t i, const char* what) {
  return std::string("argument ") + std::to_string(i) + " (" + what + ")";
}

std::string FormatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::mutex g_mappings_mutex;
std::map<uintptr_t, size_t> g_mappings;  // base address -> length

}  // namespace

void ThrowErrno(Napi::Env env, const char* syscall, int err) {
  std::string code = ErrnoName(err);
  Napi::Error error = Napi::Error::New(env, std::string(syscall) + " failed: " + code + " (" + ErrnoText(err) + ")");
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  throw error;
}

void RequireArgs(const Napi::CallbackInfo& info, size_t count) {
  if (info.Length() < count) {
    throw Napi::TypeError::New(info.Env(), "expected " + std::to_string(count) + " arguments, got " +
                                               std::to_string(info.Length()));
  }
}

int64_t IntArg(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t min, int64_t max) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), ArgName(i, what) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  // Compare as doubles first: converting an out-of-range double to int64_t is undefined behaviour.
  if (!std::isfinite(v) || std::floor(v) != v || v < static_cast<double>(min) || v > static_cast<double>(max)) {
    throw Napi::RangeError::New(info.Env(), ArgName(i, what) + " must be an integer in [" + std::to_string(min) +
                                                ", " + std::to_string(max) + "], got " + FormatNumber(v));
  }
  return static_cast<int64_t>(v);
}

int FdArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  return static_cast<int>(IntArg(info, i, what, 0, INT32_MAX));
}

uint64_t BigU64Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsBigInt()) {
    throw Napi::TypeError::New(info.Env(), ArgName(i, what) + " must be a bigint");
  }
  bool lossless = false;
  uint64_t v = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) {
    throw Napi::RangeError::New(info.Env(), ArgName(i, what) + " must fit in an unsigned 64-bit integer");
  }
  return v;
}

Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), ArgName(i, what) + " must be a Uint8Array");
  }
  return info[i].As<Napi::Uint8Array>();
}

Napi::Uint8Array StructArg(const Napi::CallbackInfo& info, size_t i, const char* what, size_t size) {
  Napi::Uint8Array bytes = BytesArg(info, i, what);
  if (bytes.ByteLength() != size) {
    throw Napi::RangeError::New(info.Env(), ArgName(i, what) + " must be " + std::to_string(size) + " bytes, got " +
                                                std::to_string(bytes.ByteLength()));
  }
  return bytes;
}

Napi::Uint8Array CopyOut(Napi::Env env, const void* src, size_t len) {
  Napi::Uint8Array out = Napi::Uint8Array::New(env, len);
  // Safe: `out` was just allocated with exactly `len` bytes and `src` holds at least `len` bytes.
  if (len > 0) std::memcpy(out.Data(), src, len);
  return out;
}

int IoctlRetry(int fd, unsigned long request, unsigned long arg) {
  int r;
  do {
    r = ioctl(fd, request, arg);
  } while (r == -1 && errno == EINTR);
  return r;
}

void RegisterMapping(void* addr, size_t len) {
  std::lock_guard<std::mutex> lock(g_mappings_mutex);
  g_mappings[reinterpret_cast<uintptr_t>(addr)] = len;
}

void UnregisterMapping(void* addr) {
  std::lock_guard<std::mutex> lock(g_mappings_mutex);
  g_mappings.erase(reinterpret_cast<uintptr_t>(addr));
}

bool IsLiveMapping(const void* addr, size_t len) {
  std::lock_guard<std::mutex> lock(g_mappings_mutex);
  auto it = g_mappings.find(reinterpret_cast<uintptr_t>(addr));
  return it != g_mappings.end() && it->second == len;
}

}  // namespace kq
