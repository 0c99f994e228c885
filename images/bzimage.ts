// Reads the x86 boot protocol setup header of a bzImage and extracts the compressed kernel payload to an ELF vmlinux.
import { runTool, ImageBuildError } from './exec.js';

/** Offsets into the bzImage's setup header (Documentation/arch/x86/boot.rst). */
export const SETUP_SECTS_OFFSET = 0x1f1;
export const HEADER_MAGIC_OFFSET = 0x202;
export const HEADER_MAGIC = 'HdrS';
export const PAYLOAD_OFFSET_OFFSET = 0x248;
export const PAYLOAD_LENGTH_OFFSET = 0x24c;
const SECTOR_SIZE = 512;
/** The build appends the decompressed size as a little-endian u32 after the compressed stream. */
const SIZE_TRAILER_BYTES = 4;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

interface Codec {
  name: string;
  magic: Buffer;
  tool: string;
  args: string[];
}

/** Compression formats a Debian kernel may use, with the Debian tool that decompresses each. */
const CODECS: Codec[] = [
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), tool: 'xz', args: ['-dc', '--single-stream'] },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), tool: 'zstd', args: ['-dcq'] },
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b]), tool: 'gzip', args: ['-dc'] },
  { name: 'lz4', magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), tool: 'lz4', args: ['-dc'] },
];

/** Returns the compressed payload of a bzImage (without the size trailer) and the decompressed size it announces. */
export function bzImagePayload(image: Buffer, file: string): { payload: Buffer; expectedSize: number } {
  if (image.length < PAYLOAD_LENGTH_OFFSET + 4 || image.toString('latin1', HEADER_MAGIC_OFFSET, HEADER_MAGIC_OFFSET + 4) !== HEADER_MAGIC) {
    throw new ImageBuildError(`${file}: not a bzImage (no "${HEADER_MAGIC}" at 0x${HEADER_MAGIC_OFFSET.toString(16)})`);
  }
  const setupSects = image[SETUP_SECTS_OFFSET] || 4; // 0 means 4 in the boot protocol
  const start = (setupSects + 1) * SECTOR_SIZE + image.readUInt32LE(PAYLOAD_OFFSET_OFFSET);
  const length = image.readUInt32LE(PAYLOAD_LENGTH_OFFSET);
  if (length <= SIZE_TRAILER_BYTES || start + length > image.length) {
    throw new ImageBuildError(`${file}: payload ${start}+${length} lies outside the ${image.length}-byte image`);
  }
  const withTrailer = image.subarray(start, start + length);
  return {
    payload: withTrailer.subarray(0, length - SIZE_TRAILER_BYTES),
    expectedSize: withTrailer.readUInt32LE(length - SIZE_TRAILER_BYTES),
  };
}

/** Decompresses a bzImage's payload into the ELF vmlinux, checking the magic and the announced size. */
export function extractVmlinux(image: Buffer, file: string): Buffer {
  const { payload, expectedSize } = bzImagePayload(image, file);
  const codec = CODECS.find((c) => payload.subarray(0, c.magic.length).equals(c.magic));
  if (!codec) throw new ImageBuildError(`${file}: unknown payload compression (magic ${payload.subarray(0, 6).toString('hex')})`);
  const out = runTool(codec.tool, codec.args, { input: payload }).stdout;
  if (!out.subarray(0, 4).equals(ELF_MAGIC)) throw new ImageBuildError(`${file}: ${codec.name} payload is not an ELF file`);
  if (out.length % 2 ** 32 !== expectedSize) {
    throw new ImageBuildError(`${file}: decompressed ${out.length} bytes, header announces ${expectedSize}`);
  }
  return out;
}
