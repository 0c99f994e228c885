// The KVM ABI as C sees it: headers of the variable-length structs and the ioctl numbers derived from them.
//
// Why this file exists: <linux/kvm.h> declares kvm_cpuid2.entries, kvm_msrs.entries and
// kvm_msr_list.indices with __DECLARE_FLEX_ARRAY, which under C++ adds 4 to 8 bytes to each struct
// (sizeof(kvm_cpuid2) is 12 in C++, 8 in C; entries move from offset 8 to 12). That changes both
// the layout and the ioctl numbers (they encode sizeof). So C++ code here must never use those
// three structs nor the ioctl macros built on them: it uses the C-layout headers below.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace kq {

/** struct kvm_cpuid2 without its entries (C layout: 8 bytes, entries follow at offset 8). */
struct CpuidHeader {
  __u32 nent;
  __u32 padding;
};
/** struct kvm_msrs without its entries (C layout: 8 bytes, entries follow at offset 8). */
struct MsrsHeader {
  __u32 nmsrs;
  __u32 pad;
};
/** struct kvm_msr_list without its indices (C layout: 4 bytes, indices follow at offset 4). */
struct MsrListHeader {
  __u32 nmsrs;
};

static_assert(sizeof(CpuidHeader) == 8, "kvm_cpuid2 header");
static_assert(sizeof(MsrsHeader) == 8, "kvm_msrs header");
static_assert(sizeof(MsrListHeader) == 4, "kvm_msr_list header");
static_assert(sizeof(kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2");
static_assert(sizeof(kvm_msr_entry) == 16, "kvm_msr_entry");

constexpr unsigned long kKvmGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);

// Every ioctl number the addon uses, checked against the values a C compiler derives from the
// same header (x86-64), so a header/C++ mismatch like the one above can never build silently.
static_assert(kKvmGetMsrIndexList == 0xc004ae02UL);
static_assert(kKvmGetSupportedCpuid == 0xc008ae05UL);
static_assert(kKvmSetCpuid2 == 0x4008ae90UL);
static_assert(kKvmGetMsrs == 0xc008ae88UL);
static_assert(kKvmSetMsrs == 0x4008ae89UL);
static_assert(KVM_GET_API_VERSION == 0xae00UL);
static_assert(KVM_CHECK_EXTENSION == 0xae03UL);
static_assert(KVM_GET_VCPU_MMAP_SIZE == 0xae04UL);
static_assert(KVM_CREATE_VM == 0xae01UL);
static_assert(KVM_SET_TSS_ADDR == 0xae47UL);
static_assert(KVM_SET_IDENTITY_MAP_ADDR == 0x4008ae48UL);
static_assert(KVM_CREATE_IRQCHIP == 0xae60UL);
static_assert(KVM_CREATE_PIT2 == 0x4040ae77UL);
static_assert(KVM_SET_USER_MEMORY_REGION == 0x4020ae46UL);
static_assert(KVM_IRQ_LINE == 0x4008ae61UL);
static_assert(KVM_IRQFD == 0x4020ae76UL);
static_assert(KVM_IOEVENTFD == 0x4040ae79UL);
static_assert(KVM_CREATE_VCPU == 0xae41UL);
static_assert(KVM_RUN == 0xae80UL);
static_assert(KVM_GET_REGS == 0x8090ae81UL);
static_assert(KVM_SET_REGS == 0x4090ae82UL);
static_assert(KVM_GET_SREGS == 0x8138ae83UL);
static_assert(KVM_SET_SREGS == 0x4138ae84UL);
static_assert(KVM_GET_FPU == 0x81a0ae8cUL);
static_assert(KVM_SET_FPU == 0x41a0ae8dUL);
static_assert(KVM_GET_LAPIC == 0x8400ae8eUL);
static_assert(KVM_SET_LAPIC == 0x4400ae8fUL);
static_assert(KVM_GET_MP_STATE == 0x8004ae98UL);
static_assert(KVM_SET_MP_STATE == 0x4004ae99UL);

}  // namespace kq
