// A small x86 assembler for the runtime's tiny test guests (16-bit real mode or flat 32-bit code), with labels
// usable as jump targets (rel8) and as absolute addresses (for IVT entries and data pointers).

type Fixup = { readonly at: number; readonly label: string; readonly kind: 'rel8' | 'abs16' | 'abs32' };

export class GuestAsm {
  private readonly out: number[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: Fixup[] = [];

  /** `origin`: the guest-physical address the code is loaded at (absolute label addresses count from it). */
  constructor(
    readonly bits: 16 | 32,
    readonly origin: number,
  ) {}

  /** Raw bytes, for data and for the odd instruction without a helper. */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.out.push(b & 0xff);
    return this;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`asm: label ${name} defined twice`);
    this.labels.set(name, this.out.length);
    return this;
  }

  /** Bytes of text (data, e.g. a message). */
  ascii(text: string): this {
    return this.raw(...Buffer.from(text, 'latin1'));
  }

  private le(v: number, n: number): number[] {
    const r: number[] = [];
    for (let i = 0; i < n; i++) r.push((v >>> (8 * i)) & 0xff);
    return r;
  }
  /** An immediate of the code's operand size (2 bytes in 16-bit code, 4 in 32-bit code). */
  private immW(v: number): number[] {
    return this.le(v, this.bits / 8);
  }
  /** Operand-size prefix for a 16-bit operand in 32-bit code. */
  private op16(): number[] {
    return this.bits === 32 ? [0x66] : [];
  }
  /** Operand-size prefix for a 32-bit operand in 16-bit code. */
  private op32(): number[] {
    return this.bits === 16 ? [0x66] : [];
  }
  private labelRef(kind: Fixup['kind'], label: string): number[] {
    this.fixups.push({ at: this.out.length, label, kind });
    return kind === 'rel8' ? [0] : kind === 'abs16' ? [0, 0] : [0, 0, 0, 0];
  }
  private absW(label: string): number[] {
    return this.labelRef(this.bits === 16 ? 'abs16' : 'abs32', label);
  }

  movAlImm(v: number): this { return this.raw(0xb0, v); }
  movBlImm(v: number): this { return this.raw(0xb3, v); }
  /** mov bl, al */
  movBlAl(): this { return this.raw(0x88, 0xc3); }
  /** mov al, bl */
  movAlBl(): this { return this.raw(0x88, 0xd8); }
  movDxImm(v: number): this { return this.raw(...this.op16(), 0xba, ...this.le(v, 2)); }
  movCxImm(v: number): this { return this.raw(...this.op16(), 0xb9, ...this.le(v, 2)); }
  movEaxImm(v: number): this { return this.raw(...this.op32(), 0xb8, ...this.le(v, 4)); }
  /** mov si, offset of label (16-bit code) / mov esi, address of label (32-bit code) */
  movSiLabel(label: string): this { this.raw(0xbe); this.out.push(...this.absW(label)); return this; }
  /** out dx, al */
  outDxAl(): this { return this.raw(0xee); }
  /** out dx, ax */
  outDxAx(): this { return this.raw(...this.op16(), 0xef); }
  /** in al, dx */
  inAlDx(): this { return this.raw(0xec); }
  /** out imm8, al */
  outImmAl(port: number): this { return this.raw(0xe6, port); }
  /** in al, imm8 */
  inAlImm(port: number): this { return this.raw(0xe4, port); }
  /** mov [addr], al (addr: 16 bits in real mode, 32 in 32-bit code) */
  movMemAl(addr: number): this { return this.raw(0xa2, ...this.immW(addr)); }
  /** mov al, [addr] */
  movAlMem(addr: number): this { return this.raw(0xa0, ...this.immW(addr)); }
  /** mov [addr], eax */
  movMemEax(addr: number): this { return this.raw(...this.op32(), 0xa3, ...this.immW(addr)); }
  /** mov word [addr16], imm16 (real mode) */
  movMemImm16(addr: number, v: number): this { return this.raw(...this.op16(), 0xc7, 0x05 + (this.bits === 16 ? 1 : 0), ...this.immW(addr), ...this.le(v, 2)); }
  /** mov word [addr], offset of label (real mode: an IVT entry's offset half) */
  movMemLabel16(addr: number, label: string): this {
    if (this.bits !== 16) throw new Error('asm: movMemLabel16 is for 16-bit code');
    this.raw(0xc7, 0x06, ...this.le(addr, 2));
    this.out.push(...this.labelRef('abs16', label));
    return this;
  }
  /** lodsb: al = [ds:si], si++ */
  lodsb(): this { return this.raw(0xac); }
  testAlImm(v: number): this { return this.raw(0xa8, v); }
  cmpAlImm(v: number): this { return this.raw(0x3c, v); }
  incAl(): this { return this.raw(0xfe, 0xc0); }
  nop(): this { return this.raw(0x90); }
  /** pause (spin-wait hint) */
  pause(): this { return this.raw(0xf3, 0x90); }
  cli(): this { return this.raw(0xfa); }
  sti(): this { return this.raw(0xfb); }
  hlt(): this { return this.raw(0xf4); }
  iret(): this { return this.raw(0xcf); }
  jmp(label: string): this { this.raw(0xeb); this.out.push(...this.labelRef('rel8', label)); return this; }
  jz(label: string): this { this.raw(0x74); this.out.push(...this.labelRef('rel8', label)); return this; }
  jnz(label: string): this { this.raw(0x75); this.out.push(...this.labelRef('rel8', label)); return this; }
  /** loop rel8 (dec cx/ecx, jump while not zero) */
  loop(label: string): this { this.raw(0xe2); this.out.push(...this.labelRef('rel8', label)); return this; }

  bytes(): Uint8Array {
    const code = [...this.out];
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`asm: undefined label ${f.label}`);
      if (f.kind === 'rel8') {
        const disp = target - (f.at + 1);
        if (disp < -128 || disp > 127) throw new Error(`asm: label ${f.label} out of rel8 range (${disp})`);
        code[f.at] = disp & 0xff;
      } else {
        const abs = this.origin + target;
        const n = f.kind === 'abs16' ? 2 : 4;
        if (n === 2 && abs > 0xffff) throw new Error(`asm: label ${f.label} at 0x${abs.toString(16)} does not fit 16 bits`);
        for (let i = 0; i < n; i++) code[f.at + i] = (abs >>> (8 * i)) & 0xff;
      }
    }
    return Uint8Array.from(code);
  }
}
