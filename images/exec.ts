// Runs the host tools the image builders need, turning a missing tool into one line that says what to install.
import { spawnSync } from 'node:child_process';

/** Thrown when a build step fails; the message is one line meant for the user. */
export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
}

/** Debian package that provides each tool we call, for "install X" hints. */
const TOOL_PACKAGE: Record<string, string> = {
  'apt-cache': 'apt',
  'apt-get': 'apt',
  'dpkg-deb': 'dpkg',
  xz: 'xz-utils',
  zstd: 'zstd',
  gzip: 'gzip',
  lz4: 'lz4',
  ldd: 'libc-bin',
  busybox: 'busybox-static',
  'qemu-system-x86_64': 'qemu-system-x86',
};

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/** Runs `tool args...`, optionally feeding `input`; throws ImageBuildError naming the tool on any failure. */
export function runTool(tool: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): RunResult {
  const r = spawnSync(tool, args, {
    cwd: opts.cwd,
    input: opts.input,
    maxBuffer: 1 << 30,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageBuildError(`${tool} not found: apt-get install -y ${TOOL_PACKAGE[tool] ?? tool}`);
    throw new ImageBuildError(`${tool} ${args.join(' ')}: ${r.error.message}`);
  }
  const stderr = r.stderr.toString('utf8');
  if (r.status !== 0) {
    const last = stderr.trim().split('\n').pop() ?? '';
    throw new ImageBuildError(`${tool} ${args.join(' ')} failed (exit ${r.status ?? r.signal}): ${last}`);
  }
  return { stdout: r.stdout, stderr };
}

/** The hint for a tool, exported so callers that check for tools themselves give the same advice. */
export function installHint(tool: string): string {
  return `apt-get install -y ${TOOL_PACKAGE[tool] ?? tool}`;
}
