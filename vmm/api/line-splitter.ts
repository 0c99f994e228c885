// Splits a byte stream into newline-terminated lines, refusing any line longer than a bound.

export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`line exceeds ${limit} bytes`);
    this.name = 'LineTooLongError';
  }
}

/**
 * Feed chunks with push(); it returns the complete lines (without the newline) they finished.
 * Throws LineTooLongError as soon as an unfinished line passes `maxLineBytes`, so a peer that
 * never sends a newline cannot make us buffer without bound.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      this.check(piece.length);
      lines.push(this.partialBytes === 0 ? Buffer.from(piece) : Buffer.concat([...this.partial, piece]));
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(rest.length);
      this.partial.push(Buffer.from(rest));
      this.partialBytes += rest.length;
    }
    return lines;
  }

  /** Bytes of an unfinished line held (for tests and for noticing a truncated stream at EOF). */
  pendingBytes(): number {
    return this.partialBytes;
  }

  private check(more: number): void {
    if (this.partialBytes + more > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
  }
}
