// Turns L1's serial console stream into the command's output: drops the boot noise before the start marker, strips
// the console's carriage returns, and takes out the exit marker line, keeping its code.
import { L1_EXIT_MARKER, L1_START_MARKER } from './l1-initramfs.js';

export class ConsoleStream {
  /** Everything printed before the start marker (kernel and init messages), for error reports. */
  bootLog = '';
  /** The command's output so far. */
  output = '';
  exitCode: number | null = null;
  started = false;
  private pending = '';

  constructor(private readonly onOutput: (chunk: Buffer) => void = () => {}) {}

  feed(chunk: Buffer): void {
    this.pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl).replace(/\r+$/, '');
      this.pending = this.pending.slice(nl + 1);
      this.line(line);
    }
    // Pass on a partial line (a prompt, a progress dot) except a tail that might still become the exit marker.
    if (this.started && this.exitCode === null && this.pending.length > 0) {
      const keep = this.markerPrefixLength(this.pending);
      const text = this.pending.slice(0, this.pending.length - keep).replace(/\r/g, '');
      this.pending = this.pending.slice(this.pending.length - keep);
      this.emit(text);
    }
  }

  /** Flushes a final partial line. */
  end(): void {
    if (this.pending.length > 0) this.line(this.pending.replace(/\r+$/, ''), false);
    this.pending = '';
  }

  /** Length of the longest tail of `partial` that is the beginning of the exit marker (or holds all of it). */
  private markerPrefixLength(partial: string): number {
    const whole = partial.indexOf(L1_EXIT_MARKER);
    if (whole >= 0) return partial.length - whole;
    for (let n = Math.min(partial.length, L1_EXIT_MARKER.length - 1); n > 0; n--) {
      if (L1_EXIT_MARKER.startsWith(partial.slice(partial.length - n))) return n;
    }
    // A lone trailing \r may be the first half of the console's \r\n.
    return partial.endsWith('\r') ? 1 : 0;
  }

  private line(raw: string, newline = true): void {
    // The command's last output may lack a newline, so the marker can follow other text on the same line.
    const text = raw.replace(/\r/g, '');
    if (!this.started) {
      if (text.endsWith(L1_START_MARKER)) this.started = true;
      else this.bootLog += text + '\n';
      return;
    }
    const at = this.exitCode === null ? text.indexOf(L1_EXIT_MARKER) : -1;
    if (at >= 0) {
      const m = /^(\d+)/.exec(text.slice(at + L1_EXIT_MARKER.length));
      if (m?.[1]) {
        this.exitCode = Number(m[1]);
        if (at > 0) this.emit(text.slice(0, at));
        return;
      }
    }
    if (this.exitCode === null) this.emit(newline ? text + '\n' : text);
  }

  private emit(text: string): void {
    if (text.length === 0) return;
    this.output += text;
    this.onOutput(Buffer.from(text, 'utf8'));
  }
}
