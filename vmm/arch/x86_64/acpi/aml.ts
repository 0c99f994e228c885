// The few ACPI Machine Language encodings our DSDT needs (ACPI 6.5 chapter 20): names, integers, packages.
import { AcpiError } from './errors.js';

/** Opcodes and prefixes. */
export const AML_ZERO_OP = 0x00;
export const AML_ONE_OP = 0x01;
export const AML_NAME_OP = 0x08;
export const AML_BYTE_PREFIX = 0x0a;
export const AML_WORD_PREFIX = 0x0b;
export const AML_DWORD_PREFIX = 0x0c;
export const AML_PACKAGE_OP = 0x12;
export const AML_STRING_PREFIX = 0x0d;
export const AML_BUFFER_OP = 0x11;
export const AML_EXT_OP_PREFIX = 0x5b;
/** DeviceOp is ExtOpPrefix followed by this byte. */
export const AML_DEVICE_OP = 0x82;
/** NameString prefixes: the root ('\\') and a path of two NameSegs. */
export const AML_ROOT_CHAR = 0x5c;
export const AML_DUAL_NAME_PREFIX = 0x2e;

/** Largest PkgLength: 28 bits (a lead byte with a 4-bit nibble and three more bytes). */
export const AML_MAX_PKG_LENGTH = 0x0fff_ffff;
/** Largest element count of a Package (NumElements is one byte). */
export const AML_MAX_PACKAGE_ELEMENTS = 255;

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A NameSeg: exactly 4 characters, a lead of A-Z or '_', then A-Z, 0-9 or '_' (shorter names are '_'-padded). */
export function amlNameSeg(name: string): Uint8Array {
  if (!/^[A-Z_][A-Z0-9_]{3}$/.test(name)) throw new AcpiError(`AML name "${name}" is not a 4-character NameSeg`);
  return Uint8Array.from(name, (c) => c.charCodeAt(0));
}

/**
 * PkgLength for `contentLength` bytes that follow it. The encoded length counts the PkgLength bytes
 * themselves: one byte up to 63, otherwise a lead byte (bits 7-6: how many bytes follow, bits 3-0: the low
 * nibble) and 1-3 bytes of the remaining bits, least significant first.
 */
export function amlPkgLength(contentLength: number): Uint8Array {
  if (!Number.isInteger(contentLength) || contentLength < 0) throw new AcpiError(`bad AML package length ${contentLength}`);
  if (contentLength + 1 <= 0x3f) return Uint8Array.of(contentLength + 1);
  for (let extra = 1; extra <= 3; extra++) {
    const total = contentLength + 1 + extra;
    if (total < 1 << (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0x0f);
      for (let i = 0; i < extra; i++) out[1 + i] = (total >>> (4 + 8 * i)) & 0xff;
      return out;
    }
  }
  throw new AcpiError(`AML package length ${contentLength} exceeds ${AML_MAX_PKG_LENGTH}`);
}

/** An Integer data object in its shortest encoding (ZeroOp, OneOp, or a Byte/Word/DWord constant). */
export function amlInteger(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new AcpiError(`AML integer ${value} out of range`);
  if (value === 0) return Uint8Array.of(AML_ZERO_OP);
  if (value === 1) return Uint8Array.of(AML_ONE_OP);
  if (value <= 0xff) return Uint8Array.of(AML_BYTE_PREFIX, value);
  if (value <= 0xffff) return Uint8Array.of(AML_WORD_PREFIX, value & 0xff, value >>> 8);
  const out = new Uint8Array(5);
  out[0] = AML_DWORD_PREFIX;
  new DataView(out.buffer).setUint32(1, value, true);
  return out;
}

/** DefPackage: PackageOp PkgLength NumElements PackageElementList. */
export function amlPackage(elements: readonly Uint8Array[]): Uint8Array {
  if (elements.length > AML_MAX_PACKAGE_ELEMENTS) throw new AcpiError(`AML package has ${elements.length} elements, more than ${AML_MAX_PACKAGE_ELEMENTS}`);
  const content = concat([Uint8Array.of(elements.length), ...elements]);
  return concat([Uint8Array.of(AML_PACKAGE_OP), amlPkgLength(content.length), content]);
}

/** DefName: NameOp NameString DataRefObject. */
export function amlName(name: string, value: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(AML_NAME_OP), amlNameString(name), value]);
}

/**
 * A NameString: "_S5_" (one NameSeg, relative), "\\_S5_" (rooted) or "\\_SB_.V000" (rooted, two segments).
 */
export function amlNameString(path: string): Uint8Array {
  const rooted = path.startsWith('\\');
  const segs = (rooted ? path.slice(1) : path).split('.');
  if (segs.length > 2) throw new AcpiError(`AML name path "${path}" has more than two segments`);
  const parts = segs.map(amlNameSeg);
  return concat([
    rooted ? Uint8Array.of(AML_ROOT_CHAR) : new Uint8Array(0),
    parts.length === 2 ? Uint8Array.of(AML_DUAL_NAME_PREFIX) : new Uint8Array(0),
    ...parts,
  ]);
}

/** A String data object: printable ASCII, NUL-terminated. */
export function amlString(text: string): Uint8Array {
  if (!/^[\x01-\x7f]*$/.test(text)) throw new AcpiError(`AML string "${text}" is not ASCII`);
  return concat([Uint8Array.of(AML_STRING_PREFIX), Uint8Array.from(text, (c) => c.charCodeAt(0)), Uint8Array.of(0)]);
}

/** DefBuffer: BufferOp PkgLength BufferSize ByteList, with the size given as an Integer. */
export function amlBuffer(data: Uint8Array): Uint8Array {
  const content = concat([amlInteger(data.length), data]);
  return concat([Uint8Array.of(AML_BUFFER_OP), amlPkgLength(content.length), content]);
}

/** DefDevice: ExtOpPrefix DeviceOp PkgLength NameString TermList. */
export function amlDevice(path: string, terms: readonly Uint8Array[]): Uint8Array {
  const content = concat([amlNameString(path), ...terms]);
  return concat([Uint8Array.of(AML_EXT_OP_PREFIX, AML_DEVICE_OP), amlPkgLength(content.length), content]);
}

/**
 * EISAID ("PNP0501"): three letters packed 5 bits each and four hex digits, stored as a DWord whose bytes read
 * in order as the compressed id (so PNP0501 is 0x0105D041).
 */
export function amlEisaId(id: string): Uint8Array {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new AcpiError(`EISA id "${id}" is not three letters and four hex digits`);
  const c = (i: number): number => id.charCodeAt(i) - 0x40;
  const b0 = (c(0) << 2) | (c(1) >> 3);
  const b1 = ((c(1) & 0x7) << 5) | c(2);
  const b2 = parseInt(id.slice(3, 5), 16);
  const b3 = parseInt(id.slice(5, 7), 16);
  return amlInteger((b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)) >>> 0);
}
