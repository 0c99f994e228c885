{
  "targets": [
    {
      "target_name": "kqubes",
      "sources": [
        "kvm-native/src/addon.cc",
        "kvm-native/src/common.cc",
        "kvm-native/src/system.cc",
        "kvm-native/src/vm.cc",
        "kvm-native/src/vcpu.cc",
        "kvm-native/src/memory.cc",
        "kvm-native/src/events.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
