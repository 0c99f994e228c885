// Entry point of the kqubes N-API addon: registers the functions of each fd kind (see native.d.ts).
#include <napi.h>

#include "common.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // No per-process state is created here, so the module loads in any number of worker threads.
  kq::RegisterSystem(env, exports);
  kq::RegisterVm(env, exports);
  kq::RegisterVcpu(env, exports);
  kq::RegisterMemory(env, exports);
  kq::RegisterEvents(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kqubes, Init)
