// Starts a VMM process and times it from spawn to a line on its console (the guest init's ready marker).
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const CONSOLE_TAIL_CHARS = 1500;

export interface MarkedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** milliseconds from just before spawn() to the marker's arrival on stdout */
  readonly ms: number;
}

/** Spawns `cmd args` and resolves once `marker` appears on its stdout; rejects (and kills it) on exit or timeout. */
export function spawnUntilMarker(cmd: string, args: readonly string[], marker: string, timeoutMs: number): Promise<MarkedProcess> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new Error(`${cmd}: ${why}; console tail:\n${out.slice(-CONSOLE_TAIL_CHARS)}\nstderr tail:\n${err.slice(-CONSOLE_TAIL_CHARS)}`));
    };
    const timer = setTimeout(() => fail(`no "${marker}" within ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (!done && out.includes(marker)) {
        const ms = performance.now() - t0;
        done = true;
        clearTimeout(timer);
        resolve({ child, pid: child.pid!, ms });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', (e) => fail(`cannot start: ${e.message}`));
    child.on('exit', (code, signal) => fail(`exited (${code ?? signal}) before "${marker}"`));
  });
}

/** Kills a process (SIGKILL) and waits until it is gone. */
export async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}
