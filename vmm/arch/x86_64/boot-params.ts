// Offsets and flags of struct boot_params (the zero page) and its setup_header (Documentation/arch/x86/boot.rst).

// ---- struct boot_params fields outside the setup header ----
/** u32: high 32 bits of ramdisk_image (boot_params.ext_ramdisk_image). */
export const BP_EXT_RAMDISK_IMAGE = 0x0c0;
/** u32: high 32 bits of ramdisk_size. */
export const BP_EXT_RAMDISK_SIZE = 0x0c4;
/** u32: high 32 bits of cmd_line_ptr. */
export const BP_EXT_CMD_LINE_PTR = 0x0c8;
/** u8: number of entries in the e820 table. */
export const BP_E820_ENTRIES = 0x1e8;
/** The e820 table: E820_MAX_ENTRIES entries of E820_ENTRY_SIZE bytes. */
export const BP_E820_TABLE = 0x2d0;
export const E820_ENTRY_SIZE = 20;
export const E820_MAX_ENTRIES = 128;
/** e820 type: usable RAM. */
export const E820_RAM = 1;
/** e820 type: reserved (firmware, EBDA, ROMs). */
export const E820_RESERVED = 2;

// ---- struct setup_header, at its offset inside boot_params (and inside a bzImage file) ----
/** The setup header starts here (setup_sects). */
export const HDR_START = 0x1f1;
/** u8: size of the real-mode setup in 512-byte sectors, not counting the boot sector; 0 means 4. */
export const HDR_SETUP_SECTS = 0x1f1;
/** u16: 0xAA55. */
export const HDR_BOOT_FLAG = 0x1fe;
/** u8 at 0x201: the second byte of the jump at 0x200; the header ends at 0x202 + this value. */
export const HDR_JUMP_OFFSET = 0x201;
/** u32: "HdrS". */
export const HDR_MAGIC = 0x202;
/** u16: boot protocol version (major << 8 | minor). */
export const HDR_VERSION = 0x206;
/** u8: boot loader id; 0xff = undefined loader. */
export const HDR_TYPE_OF_LOADER = 0x210;
/** u8: boot protocol option flags (LOADFLAG_*). */
export const HDR_LOADFLAGS = 0x211;
/** u32: 32-bit entry / load address of the protected-mode kernel. */
export const HDR_CODE32_START = 0x214;
/** u32: initrd load address (low 32 bits). */
export const HDR_RAMDISK_IMAGE = 0x218;
/** u32: initrd size (low 32 bits). */
export const HDR_RAMDISK_SIZE = 0x21c;
/** u16: end of the setup stack/heap, relative to the real-mode start, minus 0x200. */
export const HDR_HEAP_END_PTR = 0x224;
/** u32: command line address (low 32 bits). */
export const HDR_CMD_LINE_PTR = 0x228;
/** u32: highest address the initrd may occupy (inclusive). */
export const HDR_INITRD_ADDR_MAX = 0x22c;
/** u32: physical alignment the kernel needs when relocated. */
export const HDR_KERNEL_ALIGNMENT = 0x230;
/** u8: nonzero when the kernel is relocatable. */
export const HDR_RELOCATABLE_KERNEL = 0x234;
/** u16: extended load flags (XLF_*). */
export const HDR_XLOADFLAGS = 0x236;
/** u32: maximum command line length, not counting the NUL. */
export const HDR_CMDLINE_SIZE = 0x238;
/** u32: offset of the compressed payload inside the protected-mode part. */
export const HDR_PAYLOAD_OFFSET = 0x248;
/** u32: length of the compressed payload. */
export const HDR_PAYLOAD_LENGTH = 0x24c;
/** u64: preferred load address for a relocatable kernel. */
export const HDR_PREF_ADDRESS = 0x258;
/** u32: bytes of linear memory the kernel needs from its (aligned) load address until it has set itself up. */
export const HDR_INIT_SIZE = 0x260;
/** Length of the setup header fields up to and including init_size (protocol 2.10). */
export const HDR_MIN_END = 0x264;

/** "HdrS" read as a little-endian u32. */
export const HDR_MAGIC_VALUE = 0x53726448;
export const BOOT_FLAG_VALUE = 0xaa55;
/** type_of_loader: "undefined" boot loader. */
export const LOADER_TYPE_UNDEFINED = 0xff;

/** loadflags: the protected-mode code is loaded at 1 MiB (or above). */
export const LOADFLAG_LOADED_HIGH = 0x01;
/** loadflags: do not reload segment registers in the 32-bit entry. */
export const LOADFLAG_KEEP_SEGMENTS = 0x40;
/** loadflags: heap_end_ptr is valid. */
export const LOADFLAG_CAN_USE_HEAP = 0x80;

/** xloadflags: the kernel has the 64-bit entry point at load address + 0x200. */
export const XLF_KERNEL_64 = 0x1;
/** Offset of startup_64 from the start of the protected-mode kernel. */
export const KERNEL_64_ENTRY_OFFSET = 0x200;
/** heap_end_ptr value boot loaders use when the setup area is 0x10000 bytes (0x10000 - 0x200). */
export const HEAP_END_PTR_VALUE = 0xfe00;

/** cmdline_size assumed for kernels without a setup header (x86 COMMAND_LINE_SIZE 2048, minus the NUL). */
export const DEFAULT_CMDLINE_SIZE = 2047;
