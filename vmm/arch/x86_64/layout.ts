// The x86-64 guest memory map: every fixed guest-physical address, size and IRQ of a Linux boot, with why.
import { GuestAddress, type RegionSpec } from '../../memory/guest-memory.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Guest page size: RAM sizes and loads are page-granular. */
export const PAGE_SIZE = 4 * KiB;

// ---- low memory (below 1 MiB): boot structures the VMM writes before the first instruction ----

/** Global descriptor table: null, code64, data, TSS (4 x 8 bytes), above the real-mode IVT and BDA (0..0x500). */
export const BOOT_GDT_START = 0x500;
/** Number of GDT entries we write. */
export const BOOT_GDT_ENTRIES = 4;
/** Interrupt descriptor table: one zero entry right after the GDT; Linux installs its own IDT early. */
export const BOOT_IDT_START = 0x520;
/** Zero page (struct boot_params, 4 KiB); rsi points here at the 64-bit entry. */
export const ZERO_PAGE_START = 0x7000;
/** Size of struct boot_params. */
export const ZERO_PAGE_SIZE = 4 * KiB;
/** Initial stack pointer (rsp/rbp) of the boot vCPU: top of the page below the page tables, 16-byte aligned. */
export const BOOT_STACK_POINTER = 0x8ff0;
/** Page-map level 4 table (one 4 KiB page); cr3 points here. */
export const PML4_START = 0x9000;
/** Page-directory-pointer table (one 4 KiB page). */
export const PDPTE_START = 0xa000;
/** First page directory; PDE_COUNT consecutive 4 KiB pages follow it (0xb000..0xefff). */
export const PDE_START = 0xb000;
/** Page directories written: each maps 1 GiB with 2 MiB pages, so the boot identity map covers 0..4 GiB. */
export const PDE_COUNT = 4;
/** Kernel command line, NUL-terminated; well clear of the page tables and below the EBDA. */
export const CMDLINE_START = 0x20000;
/** Largest command line we write (including the NUL); the kernel's own cmdline_size may lower it. */
export const CMDLINE_MAX_SIZE = 4 * KiB;
/**
 * Extended BIOS data area: the last KiB of conventional memory. Linux scans 0x9fc00..0xa0000 for the MP
 * floating pointer, so the MP table lives here and e820 reports 0x9fc00..1 MiB as reserved.
 */
export const EBDA_START = 0x9fc00;
/** Start of the MP table (floating pointer first, then the configuration table). */
export const MPTABLE_START = EBDA_START;
/** Bytes available to the MP table: the EBDA kilobyte. */
export const MPTABLE_MAX_SIZE = 0xa0000 - EBDA_START;
/** Legacy VGA hole, option ROMs and BIOS: 0xa0000..1 MiB, reserved in e820, never RAM for the kernel. */
export const LEGACY_HOLE_START = 0xa0000;

// ---- the kernel ----

/** Start of high memory: a bzImage's protected-mode part loads here (the boot protocol's default code32_start). */
export const HIMEM_START = 1 * MiB;
/** Highest address an initrd may end at when the kernel does not say (boot protocol < 2.03 default, 896 MiB - 1). */
export const DEFAULT_INITRD_ADDR_MAX = 0x37ffffff;
/** kernel_alignment reported for kernels without a setup header (ELF vmlinux), as the x86-64 kernel builds with. */
export const KERNEL_MIN_ALIGNMENT = 16 * MiB;

// ---- the 32-bit MMIO gap and above ----

/** Start of the 32-bit MMIO gap: RAM stops here and continues at 4 GiB. */
export const MMIO_GAP_START = 0xc000_0000;
/** First address past 32 bits: end of the MMIO gap and start of high RAM. */
export const MMIO_GAP_END = 4 * GiB;
/** Size of the 32-bit MMIO gap (1 GiB). */
export const MMIO_GAP_SIZE = MMIO_GAP_END - MMIO_GAP_START;
/** Guest RAM above the gap starts here. */
export const HIGH_RAM_START = MMIO_GAP_END;

/** Base of the virtio-mmio device window inside the gap; device n sits at base + n * VIRTIO_MMIO_DEVICE_SIZE. */
export const VIRTIO_MMIO_BASE = 0xd000_0000;
/** Register window of one virtio-mmio device. */
export const VIRTIO_MMIO_DEVICE_SIZE = 4 * KiB;
/** IO-APIC registers (the Linux default, also what the MP table advertises). */
export const IOAPIC_START = 0xfec0_0000;
/** Local APIC registers of every vCPU (architectural default of IA32_APIC_BASE). */
export const LAPIC_START = 0xfee0_0000;

// ---- IRQs (IO-APIC pins, GSI = pin) ----

/** COM1 (8250 UART at 0x3f8), the ISA line the serial console expects. */
export const SERIAL_COM1_IRQ = 4;
/** i8042 keyboard controller (used only to let the guest reset the machine). */
export const I8042_IRQ = 1;
/** First IRQ handed to virtio-mmio devices (5 and up avoid the ISA legacy lines used above). */
export const IRQ_BASE = 5;
/** Last IRQ: the IO-APIC has 24 pins (0..23). */
export const IRQ_MAX = 23;
/** Number of IO-APIC pins, and of I/O interrupt entries in the MP table. */
export const IOAPIC_PINS = IRQ_MAX + 1;
/** How many virtio-mmio devices fit in the IRQ range. */
export const VIRTIO_MMIO_MAX_DEVICES = IRQ_MAX - IRQ_BASE + 1;

/** Most vCPUs we boot: bounded by the MP table fitting in the EBDA kilobyte and by our CPUID topology. */
export const MAX_VCPUS = 32;

/** Guest-physical address of virtio-mmio device `index` (0-based). */
export function virtioMmioAddress(index: number): GuestAddress {
  if (!Number.isInteger(index) || index < 0 || index >= VIRTIO_MMIO_MAX_DEVICES) {
    throw new RangeError(`virtio-mmio device index ${index} out of range 0..${VIRTIO_MMIO_MAX_DEVICES - 1}`);
  }
  return GuestAddress(VIRTIO_MMIO_BASE + index * VIRTIO_MMIO_DEVICE_SIZE);
}

/** IRQ (IO-APIC pin) of virtio-mmio device `index` (0-based). */
export function virtioMmioIrq(index: number): number {
  virtioMmioAddress(index);
  return IRQ_BASE + index;
}

/**
 * The RAM regions of a guest with `memBytes` of memory: one region from 0 up to the MMIO gap, and the rest
 * (if any) from 4 GiB. memBytes must be a positive multiple of the page size.
 */
export function guestRegions(memBytes: number): RegionSpec[] {
  if (!Number.isSafeInteger(memBytes) || memBytes <= 0 || memBytes % PAGE_SIZE !== 0) {
    throw new RangeError(`guest memory size ${memBytes} is not a positive multiple of ${PAGE_SIZE}`);
  }
  if (memBytes <= MMIO_GAP_START) return [{ start: GuestAddress(0), size: memBytes }];
  return [
    { start: GuestAddress(0), size: MMIO_GAP_START },
    { start: GuestAddress(HIGH_RAM_START), size: memBytes - MMIO_GAP_START },
  ];
}
