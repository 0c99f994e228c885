/* Benchmark baseline for `npm run bench` (exits): the smallest possible VMM loop in C. It runs the guest code
 * given in hex (real mode, loaded at CODE_ADDR) on /dev/kvm, counts the `out` writes to PORT itself (the
 * counting device), stops at the guest's hlt, and prints the KVM_RUN loop's time.
 * Usage: exit-loop HEXCODE PORT
 * Output: one line "exits=<count> writes=<writes to PORT> total_ns=<ns>". Exit code 1 and a message on failure. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x8000      /* the same 32 KiB at guest-physical 0 as test/helpers/tiny-guest.ts */
#define CODE_ADDR 0x1000
#define STACK_TOP 0x7000
#define RFLAGS_RESERVED 0x2
#define CR0_PE 0x1
#define MAX_CODE 256

static void die(const char *what) {
  fprintf(stderr, "exit-loop: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: exit-loop HEXCODE PORT\n");
    return 2;
  }
  size_t hexlen = strlen(argv[1]);
  if (hexlen == 0 || hexlen % 2 != 0 || hexlen / 2 > MAX_CODE) {
    fprintf(stderr, "exit-loop: guest code must be 1..%d bytes of hex\n", MAX_CODE);
    return 2;
  }
  uint8_t code[MAX_CODE];
  for (size_t i = 0; i < hexlen / 2; i++) {
    int hi = hexval(argv[1][2 * i]), lo = hexval(argv[1][2 * i + 1]);
    if (hi < 0 || lo < 0) {
      fprintf(stderr, "exit-loop: bad hex in guest code\n");
      return 2;
    }
    code[i] = (uint8_t)(hi << 4 | lo);
  }
  long port = strtol(argv[2], NULL, 0);
  if (port < 0 || port > 0xffff) {
    fprintf(stderr, "exit-loop: bad port %s\n", argv[2]);
    return 2;
  }

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap guest memory");
  memcpy(mem + CODE_ADDR, code, hexlen / 2);
  struct kvm_userspace_memory_region region = {
    .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)(uintptr_t)mem,
  };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < 0) die("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  struct kvm_segment *segs[] = { &sregs.cs, &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss };
  for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
    segs[i]->base = 0;
    segs[i]->selector = 0;
  }
  sregs.cr0 &= ~(uint64_t)CR0_PE;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = CODE_ADDR;
  regs.rsp = STACK_TOP;
  regs.rflags = RFLAGS_RESERVED;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  volatile uint64_t writes = 0, sum = 0;
  uint64_t exits = 0;
  uint64_t t0 = now_ns();
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      die("KVM_RUN");
    }
    exits++;
    if (run->exit_reason == KVM_EXIT_HLT) break;
    if (run->exit_reason != KVM_EXIT_IO) {
      fprintf(stderr, "exit-loop: unexpected exit reason %u\n", run->exit_reason);
      return 1;
    }
    if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == port) {
      const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
      for (uint32_t i = 0; i < run->io.count; i++) {
        writes++;
        sum += data[i * run->io.size];
      }
    }
  }
  uint64_t t1 = now_ns();
  printf("exits=%llu writes=%llu total_ns=%llu\n", (unsigned long long)exits, (unsigned long long)writes,
         (unsigned long long)(t1 - t0));
  return 0;
}
