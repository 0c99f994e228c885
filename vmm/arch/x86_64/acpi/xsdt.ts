// The Extended System Description Table: the list of 64-bit addresses of every other table but the DSDT.
import { buildSdt } from './sdt.js';

export const XSDT_SIGNATURE = 'XSDT';
export const XSDT_REVISION = 1;
/** Size of one table pointer. */
export const XSDT_ENTRY_SIZE = 8;

/** An XSDT listing `tables` (guest-physical addresses, in order). */
export function buildXsdt(tables: readonly number[]): Uint8Array {
  const body = new Uint8Array(tables.length * XSDT_ENTRY_SIZE);
  const view = new DataView(body.buffer);
  tables.forEach((addr, i) => view.setBigUint64(i * XSDT_ENTRY_SIZE, BigInt(addr), true));
  return buildSdt(XSDT_SIGNATURE, XSDT_REVISION, 'QVMMXSDT', body);
}
