// The client side of the VMM control socket (used by qubesd and the CLI): one call, one promise.
import net from 'node:net';
import { LineSplitter, LineTooLongError } from './line-splitter.js';
import {
  MAX_LINE_BYTES,
  ProtocolError,
  encodeRequest,
  parseResponse,
  validateResult,
  type Method,
  type MethodParams,
  type MethodResults,
} from './protocol.js';

/** The VMM answered a call with an error, or the connection failed before it answered. */
export class ControlCallError extends Error {
  constructor(
    readonly method: Method,
    message: string,
  ) {
    super(`control ${method}: ${message}`);
    this.name = 'ControlCallError';
  }
}

interface Pending {
  method: Method;
  resolve: (result: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * A connection to one VMM's control socket. Calls may overlap; each gets its own id and the
 * answers are matched by id. The VMM is not trusted: its answers are bounded and validated.
 */
export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly splitter = new LineSplitter(MAX_LINE_BYTES);
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: net.Socket,
    readonly path: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new Error(`connection error: ${e.message}`)));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      const onError = (e: NodeJS.ErrnoException): void => reject(new Error(`control socket ${path}: cannot connect: ${e.code ?? e.message}`));
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new ControlClient(socket, path));
      });
    });
  }

  /** Calls `method`; resolves with its validated result, rejects with ControlCallError. */
  call<M extends Method>(method: M, params?: MethodParams[M]): Promise<MethodResults[M]> {
    if (this.closedError !== null) return Promise.reject(new ControlCallError(method, this.closedError.message));
    const id = this.nextId++;
    return new Promise<MethodResults[M]>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (r: unknown) => void, reject });
      this.socket.write(encodeRequest({ id, method, ...(params === undefined ? {} : { params }) }));
    });
  }

  /** Closes the connection; calls still waiting reject. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      this.socket.destroy();
    });
  }

  private onData(chunk: Buffer): void {
    let lines: Buffer[];
    try {
      lines = this.splitter.push(chunk);
    } catch (e) {
      if (!(e instanceof LineTooLongError)) throw e;
      this.fail(new Error(`response line exceeds ${MAX_LINE_BYTES} bytes`));
      this.socket.destroy();
      return;
    }
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: Buffer): void {
    try {
      const response = parseResponse(line);
      if (response.id === null) {
        // The VMM could not read one of our requests: nothing to match it with, so all waiting calls fail.
        this.fail(new Error(response.ok ? 'response without id' : response.error));
        this.socket.destroy();
        return;
      }
      const p = this.pending.get(response.id);
      if (p === undefined) throw new ProtocolError(`response to unknown request id ${response.id}`);
      this.pending.delete(response.id);
      if (!response.ok) {
        p.reject(new ControlCallError(p.method, response.error));
        return;
      }
      try {
        p.resolve(validateResult(p.method, response.result));
      } catch (e) {
        p.reject(new ControlCallError(p.method, `invalid result: ${(e as Error).message}`));
      }
    } catch (e) {
      this.fail(new Error(`protocol error: ${(e as Error).message}`));
      this.socket.destroy();
    }
  }

  private fail(e: Error): void {
    this.closedError ??= e;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new ControlCallError(p.method, e.message));
    }
  }
}
