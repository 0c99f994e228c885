// Joins the guest's serial console to this process's stdin/stdout: output batched per event-loop turn,
// input fed to the UART's bounded FIFO with back-pressure (stdin paused while the FIFO is full).
import type { Serial } from '../devices/legacy/serial.js';

/** Output bytes are flushed at least this often, so a busy guest cannot grow the buffer without bound. */
const OUTPUT_FLUSH_BYTES = 64 * 1024;

export class ConsoleOutput {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private scheduled = false;

  constructor(private readonly sink: (bytes: Buffer) => void) {}

  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice());
    this.size += bytes.length;
    if (this.size >= OUTPUT_FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.size === 0) return;
    const all = Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    this.sink(all);
  }
}

export class StdinFeeder {
  private pending: Buffer = Buffer.alloc(0);
  private rawMode = false;
  private readonly onData = (c: Buffer): void => {
    this.pending = this.pending.length ? Buffer.concat([this.pending, c]) : c;
    this.feed();
  };

  constructor(private readonly serial: Serial) {}

  start(): void {
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      this.rawMode = true;
    }
    stdin.on('data', this.onData);
    stdin.resume();
  }

  /** Called when the UART has room again. */
  feed(): void {
    if (this.pending.length === 0) return;
    const n = this.serial.enqueueInput(this.pending);
    this.pending = this.pending.subarray(n);
    if (this.pending.length > 0) process.stdin.pause();
    else process.stdin.resume();
  }

  close(): void {
    process.stdin.off('data', this.onData);
    process.stdin.pause();
    if (this.rawMode) process.stdin.setRawMode(false);
  }
}
