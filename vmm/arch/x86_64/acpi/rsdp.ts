// The Root System Description Pointer (ACPI 2.0+, 36 bytes): what Linux finds by scanning, pointing at the XSDT.
import { ACPI_OEM_ID, byteSum, checksumFor, writeAscii } from './sdt.js';

export const RSDP_SIGNATURE = 'RSD PTR ';
/** Size of an ACPI 2.0+ RSDP. */
export const RSDP_SIZE = 36;
/** The first checksum covers the ACPI 1.0 part: the first 20 bytes. */
export const RSDP_V1_SIZE = 20;
/** Revision 2 means "ACPI 2.0 or later": the Length, XsdtAddress and extended checksum fields are valid. */
export const RSDP_REVISION = 2;
/** Field offsets. */
export const RSDP_CHECKSUM_OFFSET = 8;
export const RSDP_OEM_ID_OFFSET = 9;
export const RSDP_REVISION_OFFSET = 15;
export const RSDP_RSDT_ADDRESS_OFFSET = 16;
export const RSDP_LENGTH_OFFSET = 20;
export const RSDP_XSDT_ADDRESS_OFFSET = 24;
export const RSDP_EXTENDED_CHECKSUM_OFFSET = 32;

/** An RSDP pointing at the XSDT at `xsdtAddr`; no RSDT (its address is 0, which revision 2 allows). */
export function buildRsdp(xsdtAddr: number): Uint8Array {
  const rsdp = new Uint8Array(RSDP_SIZE);
  const view = new DataView(rsdp.buffer);
  writeAscii(rsdp, 0, RSDP_SIGNATURE, 8);
  writeAscii(rsdp, RSDP_OEM_ID_OFFSET, ACPI_OEM_ID, 6);
  view.setUint8(RSDP_REVISION_OFFSET, RSDP_REVISION);
  view.setUint32(RSDP_RSDT_ADDRESS_OFFSET, 0, true);
  view.setUint32(RSDP_LENGTH_OFFSET, RSDP_SIZE, true);
  view.setBigUint64(RSDP_XSDT_ADDRESS_OFFSET, BigInt(xsdtAddr), true);
  rsdp[RSDP_CHECKSUM_OFFSET] = checksumFor(rsdp.subarray(0, RSDP_V1_SIZE));
  // The extended checksum covers all 36 bytes, including the first checksum just set.
  rsdp[RSDP_EXTENDED_CHECKSUM_OFFSET] = checksumFor(rsdp);
  return rsdp;
}

/** True when `bytes` start with a valid ACPI 2.0+ RSDP (signature, both checksums, length). */
export function isValidRsdp(bytes: Uint8Array): boolean {
  if (bytes.length < RSDP_SIZE) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== RSDP_SIGNATURE.charCodeAt(i)) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return (
    byteSum(bytes.subarray(0, RSDP_V1_SIZE)) === 0 &&
    view.getUint8(RSDP_REVISION_OFFSET) >= RSDP_REVISION &&
    view.getUint32(RSDP_LENGTH_OFFSET, true) === RSDP_SIZE &&
    byteSum(bytes.subarray(0, RSDP_SIZE)) === 0
  );
}
