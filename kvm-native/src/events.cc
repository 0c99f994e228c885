// eventfd, poll, close, and the thread/signal calls used to kick a vCPU thread out of KVM_RUN.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common.h"

namespace kq {
namespace {

// Bound on the fds one poll() call may watch (bounds the local array).
constexpr size_t kMaxPollFds = 4096;

void NoopHandler(int /*signo*/) {
  // Intentionally empty: the signal only has to interrupt a blocking ioctl with EINTR.
}

// Only real-time signals may be taken over or sent: Node, V8 and libuv own the classic ones.
void RequireRealtimeSignal(const Napi::CallbackInfo& info, int signo, bool allowZero) {
  if (allowZero && signo == 0) return;
  if (signo < SIGRTMIN || signo > SIGRTMAX) {
    throw Napi::RangeError::New(info.Env(), "signal " + std::to_string(signo) + " is not a real-time signal [" +
                                                std::to_string(SIGRTMIN) + ", " + std::to_string(SIGRTMAX) + "]");
  }
}

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  unsigned int initval = static_cast<unsigned int>(IntArg(info, 0, "initval", 0, UINT32_MAX));
  int flags = static_cast<int>(IntArg(info, 1, "flags", 0, INT32_MAX));
  // Safe: integer arguments only; returns a new fd.
  int fd = eventfd(initval, flags);
  if (fd < 0) ThrowErrno(info.Env(), "eventfd", errno);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int fd = FdArg(info, 0, "fd");
  uint64_t value = BigU64Arg(info, 1, "value");
  ssize_t r;
  do {
    // Safe: writes the 8 bytes of a local u64.
    r = write(fd, &value, sizeof value);
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(info.Env(), "write", errno);
  if (r != static_cast<ssize_t>(sizeof value)) ThrowErrno(info.Env(), "write", EIO);
  return info.Env().Undefined();
}

Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "fd");
  uint64_t value = 0;
  ssize_t r;
  do {
    // Safe: reads at most 8 bytes into a local u64.
    r = read(fd, &value, sizeof value);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN) return info.Env().Null();
    ThrowErrno(info.Env(), "read", errno);
  }
  if (r != static_cast<ssize_t>(sizeof value)) ThrowErrno(info.Env(), "read", EIO);
  return Napi::BigInt::New(info.Env(), value);
}

Napi::Value Poll(const Napi::CallbackInfo& info) {
  RequireArgs(info, 4);
  auto typed = [&](size_t i, napi_typedarray_type type, const char* what) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
      throw Napi::TypeError::New(info.Env(), std::string("argument ") + std::to_string(i) + " (" + what +
                                                 ") has the wrong typed-array type");
    }
  };
  typed(0, napi_int32_array, "fds: Int32Array");
  typed(1, napi_int16_array, "events: Int16Array");
  typed(2, napi_int16_array, "revents: Int16Array");
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  Napi::Int16Array events = info[1].As<Napi::Int16Array>();
  Napi::Int16Array revents = info[2].As<Napi::Int16Array>();
  int timeout = static_cast<int>(IntArg(info, 3, "timeoutMs", -1, INT32_MAX));
  size_t n = fds.ElementLength();
  if (events.ElementLength() != n || revents.ElementLength() != n) {
    throw Napi::RangeError::New(info.Env(), "fds, events and revents must have the same length");
  }
  if (n > kMaxPollFds) throw Napi::RangeError::New(info.Env(), "poll: too many fds");
  std::vector<pollfd> pfds(n);
  for (size_t i = 0; i < n; i++) {
    pfds[i].fd = fds[i];
    pfds[i].events = events[i];
    pfds[i].revents = 0;
  }
  // Safe: pfds holds exactly n entries.
  int r = poll(pfds.data(), n, timeout);
  if (r < 0) {
    if (errno == EINTR) return Napi::Number::New(info.Env(), -EINTR);
    ThrowErrno(info.Env(), "poll", errno);
  }
  for (size_t i = 0; i < n; i++) revents[i] = pfds[i].revents;
  return Napi::Number::New(info.Env(), r);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int fd = FdArg(info, 0, "fd");
  // Safe: closes an fd number the caller owns. On Linux the fd is released even on EINTR, so
  // EINTR is not an error and must not be retried (the number may already be reused).
  if (close(fd) < 0 && errno != EINTR) ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

Napi::Value Gettid(const Napi::CallbackInfo& info) {
  // Safe: gettid cannot fail.
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

Napi::Value InstallNoopSignalHandler(const Napi::CallbackInfo& info) {
  RequireArgs(info, 1);
  int signo = static_cast<int>(IntArg(info, 0, "signo", 1, 64));
  RequireRealtimeSignal(info, signo, false);
  struct sigaction action {};
  action.sa_handler = NoopHandler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked KVM_RUN or poll must return EINTR
  // Safe: installs a handler that touches nothing, for a real-time signal nobody else uses.
  if (sigaction(signo, &action, nullptr) < 0) ThrowErrno(info.Env(), "sigaction", errno);
  return info.Env().Undefined();
}

Napi::Value Tgkill(const Napi::CallbackInfo& info) {
  RequireArgs(info, 2);
  int tid = static_cast<int>(IntArg(info, 0, "tid", 1, INT32_MAX));
  int signo = static_cast<int>(IntArg(info, 1, "signo", 0, 64));
  RequireRealtimeSignal(info, signo, true);
  // Safe: targets a thread of this process only (tgid = getpid()).
  if (syscall(SYS_tgkill, getpid(), tid, signo) < 0) ThrowErrno(info.Env(), "tgkill", errno);
  return info.Env().Undefined();
}

Napi::Value Sigrtmin(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), SIGRTMIN); }

}  // namespace

void RegisterEvents(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("gettid", Napi::Function::New(env, Gettid, "gettid"));
  exports.Set("installNoopSignalHandler", Napi::Function::New(env, InstallNoopSignalHandler, "installNoopSignalHandler"));
  exports.Set("tgkill", Napi::Function::New(env, Tgkill, "tgkill"));
  exports.Set("sigrtmin", Napi::Function::New(env, Sigrtmin, "sigrtmin"));
}

}  // namespace kq
