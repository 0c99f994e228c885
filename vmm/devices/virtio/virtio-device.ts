// The transport-independent virtio device interface (crosvm's VirtioDevice shape).
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { Queue } from './queue.js';

/** How a device tells the transport that it used buffers or changed its config. */
export interface VirtioInterrupt {
  signalUsedQueue(queueIndex: number): void;
  signalConfigChange(): void;
}

export interface ActivateContext {
  readonly mem: GuestMemory;
  /** the queues the driver set up, indexed as the device numbers them (only ready queues are non-null) */
  readonly queues: readonly (Queue | null)[];
  readonly interrupt: VirtioInterrupt;
  /** the features the driver accepted (a subset of availableFeatures) */
  readonly ackedFeatures: bigint;
}

/**
 * A virtio device. It knows nothing of MMIO or PCI: the transport owns registers, feature
 * negotiation and queue setup, and calls activate() once the driver sets DRIVER_OK.
 */
export interface VirtioDevice {
  /** VIRTIO_ID_* (2 blk, 4 rng, 19 vsock) */
  readonly deviceType: number;
  /** one entry per queue: the largest size the device accepts (a power of two) */
  readonly queueMaxSizes: readonly number[];
  /** feature bits offered (VIRTIO_F_VERSION_1 included) */
  readonly availableFeatures: bigint;
  /** device-specific config space; out-of-range offsets read zeros and ignore writes */
  readConfig(offset: number, data: Uint8Array): void;
  writeConfig(offset: number, data: Uint8Array): void;
  activate(ctx: ActivateContext): void;
  /** back to the pre-activation state (driver wrote 0 to status); drops host resources */
  reset(): void;
  /** the driver notified queue `queueIndex` */
  queueNotify(queueIndex: number): void;
  /** a device that met a fatal guest error sets this; the transport then reports DEVICE_NEEDS_RESET */
  readonly broken?: boolean;
}
