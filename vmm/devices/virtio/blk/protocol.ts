// virtio-blk wire format (virtio 1.2, 5.2): feature bits, request types, status codes, config layout, limits.

/** Feature bits (as bigint masks). */
export const VIRTIO_BLK_F_SIZE_MAX = 1n << 1n;
export const VIRTIO_BLK_F_SEG_MAX = 1n << 2n;
export const VIRTIO_BLK_F_RO = 1n << 5n;
export const VIRTIO_BLK_F_BLK_SIZE = 1n << 6n;
export const VIRTIO_BLK_F_FLUSH = 1n << 9n;

/** Request types (header field `type`). */
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;

/** Status byte values, written into the last device-writable byte of a request. */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** struct virtio_blk_outhdr: type u32, reserved u32, sector u64. */
export const BLK_HEADER_SIZE = 16;
export const BLK_HEADER_TYPE_OFFSET = 0;
export const BLK_HEADER_SECTOR_OFFSET = 8;
/** Sectors are always 512 bytes in the protocol, whatever blk_size says. */
export const SECTOR_SIZE = 512;
/** GET_ID returns a 20-byte serial, zero-padded (not NUL-terminated when 20 long). */
export const BLK_ID_BYTES = 20;

/** The one request queue's size. */
export const BLK_QUEUE_SIZE = 256;
/** Data segments per request we announce: the queue size less the header and status descriptors. */
export const BLK_SEG_MAX = BLK_QUEUE_SIZE - 2;
/** Largest single data segment we announce. */
export const BLK_SIZE_MAX = 64 * 1024;
/** So no legitimate request carries more data than this; anything larger is refused with IOERR. */
export const BLK_MAX_DATA_BYTES = BLK_SEG_MAX * BLK_SIZE_MAX;

/** struct virtio_blk_config, the fields up to blk_size. */
export const BLK_CFG_CAPACITY = 0;
export const BLK_CFG_SIZE_MAX = 8;
export const BLK_CFG_SEG_MAX = 12;
/** geometry (4 bytes at 16) stays zero: VIRTIO_BLK_F_GEOMETRY is not offered */
export const BLK_CFG_BLK_SIZE = 20;
export const BLK_CFG_SIZE = 24;
