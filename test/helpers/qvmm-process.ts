// Runs `qvmm` as a child process for tests: collects its console, waits for lines, and reports its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const QVMM_BIN = path.join(REPO_ROOT, 'bin', 'qvmm.js');

export interface QvmmExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class QvmmProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<QvmmExit>;
  private waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];

  constructor(args: string[], opts: { echo?: boolean } = {}) {
    // The test runner's loader hooks (NODE_OPTIONS=--import ...) are not for qvmm: under an emulated KVM host
    // they cost seconds at every start.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    this.child = spawn(process.execPath, [QVMM_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.stdout!.on('data', (c: Buffer) => {
      this.stdout += c.toString('utf8');
      if (opts.echo) process.stderr.write(c);
      this.check();
    });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr += c.toString('utf8');
      if (opts.echo) process.stderr.write(c);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      const m = this.stdout.match(w.re);
      if (m) w.resolve(m);
      return !m;
    });
  }

  /** Resolves with the first match of `re` in the console output; rejects on timeout or exit. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const m = this.stdout.match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; console so far:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr.slice(-2000)}`)), timeoutMs);
      const done = (mm: RegExpMatchArray): void => {
        clearTimeout(timer);
        resolve(mm);
      };
      this.waiters.push({ re, resolve: done });
      void this.exited.then((e) => {
        clearTimeout(timer);
        const mm = this.stdout.match(re);
        if (mm) resolve(mm);
        else reject(new Error(`qvmm exited (${e.code ?? e.signal}) before ${re}; console:\n${this.stdout.slice(-2000)}\nstderr:\n${this.stderr.slice(-2000)}`));
      });
    });
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
