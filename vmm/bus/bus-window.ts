// A BusDevice that forwards to part of another device, so one device can sit at several bus ranges.
import type { BusDevice } from './bus-device.js';

/**
 * Forwards accesses to `device` with `offset` added. The i8042 uses it: its data port (0x60) and
 * command/status port (0x64) are one device with offsets 0 and 4, but the ports between them
 * (0x61: the PIT's speaker gate, handled by KVM's in-kernel PIT) belong to others, so each port
 * is mapped as its own one-byte range.
 */
export class BusWindow implements BusDevice {
  constructor(
    private readonly device: BusDevice,
    private readonly offset: number,
  ) {}

  read(offset: number, data: Uint8Array): void {
    this.device.read(this.offset + offset, data);
  }

  write(offset: number, data: Uint8Array): void {
    this.device.write(this.offset + offset, data);
  }
}
