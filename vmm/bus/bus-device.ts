// The interface every device on a PIO or MMIO bus implements (rust-vmm's BusDevice shape).

/**
 * A device mapped at a range of a bus. `offset` is relative to the range's base; `data` has the
 * access width (1, 2, 4 or 8 bytes). read() fills `data`; write() consumes it. Devices must not
 * throw on odd offsets or widths from the guest: they ignore the access (reads return zeros).
 */
export interface BusDevice {
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}
