// Virtio constants shared by every transport and device: feature bits, status bits, device ids, descriptor flags.

/** Device status bits (virtio 1.2, 2.1). */
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

/** Reserved (device-independent) feature bit numbers, as bigint masks. */
export const VIRTIO_RING_F_INDIRECT_DESC = 1n << 28n;
export const VIRTIO_RING_F_EVENT_IDX = 1n << 29n;
export const VIRTIO_F_VERSION_1 = 1n << 32n;

/** Device ids (virtio 1.2, 5). */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;
export const VIRTIO_ID_VSOCK = 19;

/** A short name per device id, for log lines. */
export function virtioDeviceName(deviceType: number): string {
  switch (deviceType) {
    case VIRTIO_ID_NET: return 'virtio-net';
    case VIRTIO_ID_BLOCK: return 'virtio-blk';
    case VIRTIO_ID_CONSOLE: return 'virtio-console';
    case VIRTIO_ID_RNG: return 'virtio-rng';
    case VIRTIO_ID_VSOCK: return 'virtio-vsock';
    default: return `virtio-device-${deviceType}`;
  }
}

/** Split virtqueue descriptor flags. */
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;

/** Split virtqueue layout: descriptor 16 bytes; avail = flags, idx, ring[n] u16, used_event; used = flags, idx, ring[n] {id u32, len u32}, avail_event. */
export const VIRTQ_DESC_SIZE = 16;
export const VIRTQ_AVAIL_RING_OFFSET = 4;
export const VIRTQ_AVAIL_ELEM_SIZE = 2;
export const VIRTQ_USED_RING_OFFSET = 4;
export const VIRTQ_USED_ELEM_SIZE = 8;
export const VIRTQ_RING_IDX_OFFSET = 2;
/** Required alignment of the three areas (virtio 1.2, 2.7). */
export const VIRTQ_DESC_ALIGN = 16;
export const VIRTQ_AVAIL_ALIGN = 2;
export const VIRTQ_USED_ALIGN = 4;
/** The largest queue size a split virtqueue may have. */
export const VIRTQ_MAX_SIZE = 32768;
