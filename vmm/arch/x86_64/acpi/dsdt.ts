// The Differentiated System Description Table: AML that tells the guest the S5 (soft-off) sleep type.
import { amlInteger, amlName, amlPackage } from './aml.js';
import { ACPI_S5_SLEEP_TYPE } from './layout.js';
import { buildSdt } from './sdt.js';

export const DSDT_SIGNATURE = 'DSDT';
/** Revision 2: AML integers are 64-bit. */
export const DSDT_REVISION = 2;

/**
 * `Name (_S5_, Package () { SLP_TYPa, SLP_TYPb, 0, 0 })` at the root. Linux reads SLP_TYPa from it and writes
 * it, with SLP_EN, to the FADT's SLEEP_CONTROL_REG to power off; without \_S5_ it never offers ACPI poweroff.
 * SLP_TYPb is unused on hardware-reduced platforms, and the last two elements are reserved.
 */
export function s5Aml(): Uint8Array {
  return amlName('_S5_', amlPackage([amlInteger(ACPI_S5_SLEEP_TYPE), amlInteger(0), amlInteger(0), amlInteger(0)]));
}

export function buildDsdt(): Uint8Array {
  return buildSdt(DSDT_SIGNATURE, DSDT_REVISION, 'QVMMDSDT', s5Aml());
}
