// The common ACPI system description table header (36 bytes), our OEM identity, and the byte checksum.
import { AcpiError } from './errors.js';

/** Size of the header every SDT (XSDT, FADT, DSDT, MADT...) starts with. */
export const SDT_HEADER_SIZE = 36;
/** Header field offsets. */
export const SDT_SIGNATURE_OFFSET = 0;
export const SDT_LENGTH_OFFSET = 4;
export const SDT_REVISION_OFFSET = 8;
export const SDT_CHECKSUM_OFFSET = 9;
export const SDT_OEM_ID_OFFSET = 10;
export const SDT_OEM_TABLE_ID_OFFSET = 16;
export const SDT_OEM_REVISION_OFFSET = 24;
export const SDT_CREATOR_ID_OFFSET = 28;
export const SDT_CREATOR_REVISION_OFFSET = 32;

/** OEM ID (exactly 6 bytes) in every table and the RSDP. */
export const ACPI_OEM_ID = 'KQUBES';
/** OEM revision of our tables. */
export const ACPI_OEM_REVISION = 1;
/** Creator ID (4 bytes): the tool that made the tables, here the VMM. */
export const ACPI_CREATOR_ID = 'QVMM';
/** Creator revision. */
export const ACPI_CREATOR_REVISION = 1;

/** Sum of all bytes modulo 256: a valid ACPI table sums to 0. */
export function byteSum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum;
}

/** The byte that makes `bytes` (with its checksum byte still 0) sum to 0. */
export function checksumFor(bytes: Uint8Array): number {
  return (0x100 - byteSum(bytes)) & 0xff;
}

/** Writes `text` as ASCII into `out` at `offset`, exactly `width` bytes (must match: ACPI ids are fixed-size). */
export function writeAscii(out: Uint8Array, offset: number, text: string, width: number): void {
  if (text.length !== width || !/^[\x20-\x7e]*$/.test(text)) {
    throw new AcpiError(`ACPI identifier "${text}" must be ${width} printable ASCII characters`);
  }
  for (let i = 0; i < width; i++) out[offset + i] = text.charCodeAt(i);
}

/**
 * A complete table: header (signature, length, revision, OEM ids, creator) followed by `body`, with the
 * checksum byte set so the whole table sums to 0. oemTableId is 8 characters.
 */
export function buildSdt(signature: string, revision: number, oemTableId: string, body: Uint8Array): Uint8Array {
  const table = new Uint8Array(SDT_HEADER_SIZE + body.length);
  const view = new DataView(table.buffer);
  writeAscii(table, SDT_SIGNATURE_OFFSET, signature, 4);
  view.setUint32(SDT_LENGTH_OFFSET, table.length, true);
  view.setUint8(SDT_REVISION_OFFSET, revision);
  writeAscii(table, SDT_OEM_ID_OFFSET, ACPI_OEM_ID, 6);
  writeAscii(table, SDT_OEM_TABLE_ID_OFFSET, oemTableId, 8);
  view.setUint32(SDT_OEM_REVISION_OFFSET, ACPI_OEM_REVISION, true);
  writeAscii(table, SDT_CREATOR_ID_OFFSET, ACPI_CREATOR_ID, 4);
  view.setUint32(SDT_CREATOR_REVISION_OFFSET, ACPI_CREATOR_REVISION, true);
  table.set(body, SDT_HEADER_SIZE);
  table[SDT_CHECKSUM_OFFSET] = checksumFor(table);
  return table;
}
