// The VMM's control socket: newline-delimited JSON requests from qubesd, answered by a VmController.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LineSplitter, LineTooLongError } from './line-splitter.js';
import {
  MAX_LINE_BYTES,
  ProtocolError,
  encodeError,
  encodeResult,
  parseRequest,
  validateVmDescription,
  type Request,
  type VmDescription,
} from './protocol.js';

/** What the control API drives: the running VM. Methods reject (with a message for the client) when they cannot act. */
export interface VmController {
  describe(): VmDescription;
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlServer {
  /** the socket path */
  readonly path: string;
  /** Stops accepting, closes every client, removes the socket file (if it is still ours). */
  close(): Promise<void>;
}

/** Concurrent clients beyond this are refused (qubesd needs one or two; the bound stops fd exhaustion). */
export const MAX_CONTROL_CLIENTS = 32;
/** Mode of the socket file: only the owner (qubesd's user) may connect. */
export const CONTROL_SOCKET_MODE = 0o600;

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export class ControlServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlServerError';
  }
}

/**
 * Listens on `socketPath`. A stale socket there (no one accepting) is replaced; a live one, or
 * anything that is not a socket, is an error. The socket is created in a private temporary
 * directory, given mode 0600 and then hard-linked into place, so it is never reachable with
 * wider permissions and never replaces a file that appeared meanwhile.
 */
export async function startControlServer(socketPath: string, vm: VmController): Promise<ControlServer> {
  // The socket is first bound at <dir>/.qvmm-XXXXXX/s; both names must fit in sun_path.
  const tmpPathBytes = Buffer.byteLength(path.join(path.dirname(socketPath), '.qvmm-XXXXXX', 's'));
  if (Math.max(Buffer.byteLength(socketPath), tmpPathBytes) > MAX_SOCKET_PATH_BYTES) {
    throw new ControlServerError(`control socket ${socketPath}: path too long for a unix socket (at most ${MAX_SOCKET_PATH_BYTES} bytes, its directory at most ${MAX_SOCKET_PATH_BYTES - 15})`);
  }
  await removeStaleSocket(socketPath);
  const tmpDir = await fs.mkdtemp(path.join(path.dirname(socketPath), '.qvmm-'));
  const tmpSocket = path.join(tmpDir, 's');
  const clients = new Set<net.Socket>();
  // allowHalfOpen: a client may send its requests and shut down its side, then read the answers.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    clients.add(socket);
    socket.on('close', () => clients.delete(socket));
    serveConnection(socket, vm);
  });
  server.maxConnections = MAX_CONTROL_CLIENTS;
  let ino: number;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(tmpSocket, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await fs.chmod(tmpSocket, CONTROL_SOCKET_MODE);
    await fs.link(tmpSocket, socketPath).catch((e: NodeJS.ErrnoException) => {
      throw new ControlServerError(`control socket ${socketPath}: cannot create: ${e.code ?? e.message}`);
    });
    ino = (await fs.lstat(socketPath)).ino;
  } catch (e) {
    server.close();
    throw e;
  } finally {
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
  server.on('error', (e) => console.error(`control socket ${socketPath}: ${e.message}`));

  let closing: Promise<void> | null = null;
  return {
    path: socketPath,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of clients) c.destroy();
        await closed;
        // Remove the socket only if it is still the one we made (not a successor's).
        const st = await fs.lstat(socketPath).catch(() => null);
        if (st !== null && st.isSocket() && st.ino === ino) await fs.unlink(socketPath).catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** Removes `socketPath` if it is a socket nobody listens on; refuses a live socket or a non-socket. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const st = await fs.lstat(socketPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw new ControlServerError(`control socket ${socketPath}: cannot inspect: ${e.code ?? e.message}`);
  });
  if (st === null) return;
  if (!st.isSocket()) throw new ControlServerError(`control socket ${socketPath}: exists and is not a socket; not removing it`);
  // Only a refused connection proves the socket stale; EACCES and the like mean it may be someone's live socket.
  const probeError = await new Promise<string | null>((resolve) => {
    const probe = net.createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(null);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  if (probeError === null) throw new ControlServerError(`control socket ${socketPath}: another process is listening on it`);
  if (probeError !== 'ECONNREFUSED') throw new ControlServerError(`control socket ${socketPath}: exists and cannot be probed (${probeError}); not removing it`);
  await fs.unlink(socketPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw new ControlServerError(`control socket ${socketPath}: cannot remove stale socket: ${e.code ?? e.message}`);
  });
}

/** Queued in place of a final line that has no newline: answered with an error, never executed. */
const UNTERMINATED = Symbol('unterminated request');

/** Reads requests off one connection in order, one at a time, and writes one response line each. */
function serveConnection(socket: net.Socket, vm: VmController): void {
  const splitter = new LineSplitter(MAX_LINE_BYTES);
  const queue: (Buffer | typeof UNTERMINATED)[] = [];
  let busy = false;
  let ended = false;
  let failed = false;

  const pump = async (): Promise<void> => {
    busy = true;
    while (queue.length > 0 && !socket.destroyed) {
      const response = await handleLine(queue.shift()!, vm);
      if (socket.destroyed) break;
      // Wait for a slow reader instead of buffering its responses without bound.
      if (!socket.write(response)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
    }
    busy = false;
    if (ended) socket.end();
    else if (!socket.destroyed) socket.resume();
  };
  const run = (): void => {
    pump().catch((e: unknown) => {
      console.error(`control socket: dropping a client after an internal error: ${e instanceof Error ? e.message : String(e)}`);
      socket.destroy();
    });
  };

  socket.on('data', (chunk: Buffer) => {
    try {
      for (const line of splitter.push(chunk)) {
        if (line.toString('latin1').trim() !== '') queue.push(line);
      }
    } catch (e) {
      if (!(e instanceof LineTooLongError)) throw e;
      queue.length = 0;
      failed = true;
      // Stop parsing; what else the client sends is read and dropped until the socket closes.
      socket.removeAllListeners('data');
      socket.end(encodeError(null, `request line exceeds ${MAX_LINE_BYTES} bytes; closing connection`), () => socket.destroy());
      return;
    }
    if (queue.length > 0 && !busy) {
      // Stop reading while requests are handled: the queue stays bounded by one chunk.
      socket.pause();
      run();
    }
  });
  socket.on('end', () => {
    ended = true;
    if (failed) return;
    if (splitter.pendingBytes() > 0) queue.push(UNTERMINATED);
    if (queue.length > 0 && !busy) run();
    else if (!busy) socket.end();
  });
  socket.on('error', () => socket.destroy());
}

async function handleLine(line: Buffer | typeof UNTERMINATED, vm: VmController): Promise<string> {
  if (line === UNTERMINATED) return encodeError(null, 'request not terminated by a newline at end of stream');
  let request: Request;
  try {
    request = parseRequest(line);
  } catch (e) {
    if (e instanceof ProtocolError) return encodeError(e.id, e.message);
    throw e;
  }
  try {
    switch (request.method) {
      case 'describe':
        return encodeResult(request.id, validateVmDescription(vm.describe()));
      case 'pause':
        await vm.pause();
        return encodeResult(request.id, null);
      case 'resume':
        await vm.resume();
        return encodeResult(request.id, null);
      case 'stop':
        await vm.stop();
        return encodeResult(request.id, null);
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return encodeError(request.id, `${request.method} failed: ${message}`);
  }
}
