// The ACPI Generic Address Structure (12 bytes): how the FADT points at a register in I/O or memory space.

/** Size of one Generic Address Structure. */
export const GAS_SIZE = 12;
/** Address space ids. */
export const GAS_SPACE_SYSTEM_MEMORY = 0;
export const GAS_SPACE_SYSTEM_IO = 1;
/** Access sizes. */
export const GAS_ACCESS_UNDEFINED = 0;
export const GAS_ACCESS_BYTE = 1;

export interface GenericAddress {
  readonly spaceId: number;
  readonly bitWidth: number;
  readonly bitOffset: number;
  readonly accessSize: number;
  readonly address: number;
}

/** A one-byte register at I/O port `port` (what the sleep and reset registers are). */
export function ioPortByte(port: number): GenericAddress {
  return { spaceId: GAS_SPACE_SYSTEM_IO, bitWidth: 8, bitOffset: 0, accessSize: GAS_ACCESS_BYTE, address: port };
}

/** Writes `gas` into `view` at `offset`. */
export function writeGas(view: DataView, offset: number, gas: GenericAddress): void {
  view.setUint8(offset, gas.spaceId);
  view.setUint8(offset + 1, gas.bitWidth);
  view.setUint8(offset + 2, gas.bitOffset);
  view.setUint8(offset + 3, gas.accessSize);
  view.setBigUint64(offset + 4, BigInt(gas.address), true);
}
