// The exits benchmark's guest: real-mode code doing N `out dx, al` to one port, then hlt. The same bytes run in
// qvmm's runtime and in the C baseline (bench/exit-loop.c gets them in hex).

/** A port no device of a real VM uses; the benchmark's counting device sits here. */
export const EXIT_PORT = 0x500;
const OPSIZE32 = 0x66;
const ADDRSIZE32 = 0x67;
const MOV_ECX_IMM = 0xb9;
const MOV_DX_IMM = 0xba;
const MOV_AL_IMM = 0xb0;
const OUT_DX_AL = 0xee;
const LOOP_REL8 = 0xe2;
const HLT = 0xf4;
/** `loop` jumps back over itself (3 bytes with the prefix) and the 1-byte `out`. */
const LOOP_BACK = -4 & 0xff;

/** mov ecx, count; mov dx, port; mov al, 1; l: out dx, al; a32 loop l; hlt  (a32: the loop counts in ecx) */
export function exitGuestCode(count: number, port = EXIT_PORT): Uint8Array {
  if (!Number.isInteger(count) || count < 1 || count > 0xffff_ffff) throw new RangeError(`exit guest: count ${count} out of 1..2^32-1`);
  return Uint8Array.from([
    OPSIZE32, MOV_ECX_IMM, count & 0xff, (count >>> 8) & 0xff, (count >>> 16) & 0xff, (count >>> 24) & 0xff,
    MOV_DX_IMM, port & 0xff, (port >> 8) & 0xff,
    MOV_AL_IMM, 1,
    OUT_DX_AL,
    ADDRSIZE32, LOOP_REL8, LOOP_BACK,
    HLT,
  ]);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
