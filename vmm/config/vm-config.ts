// The VMM's configuration: what `qvmm run` flags (or a JSON file) describe, validated before anything is built.
import fs from 'node:fs';

export interface DriveConfig {
  /** raw disk image */
  readonly path: string;
  readonly readOnly: boolean;
}

import type { VsockConfig } from '../devices/virtio/vsock/device.js';
export type { VsockConfig };

export interface VmConfig {
  /** the VM's name (the qube's, when qubesd starts it); shown by the control API */
  readonly name: string;
  readonly kernelPath: string;
  readonly initrdPath?: string;
  readonly cmdline: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly drives: readonly DriveConfig[];
  readonly vsock?: VsockConfig;
  /** control API socket (JSON lines) */
  readonly apiSocket?: string;
  /** serial console: stdio of the VMM process, or discarded */
  readonly console: 'stdio' | 'none';
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const MAX_VCPUS = 32;
/** Below this Linux cannot unpack an initramfs and run. */
export const MIN_MEMORY_MIB = 32;
/** Keep guest RAM inside what one process can map comfortably. */
export const MAX_MEMORY_MIB = 64 * 1024;
const VSOCK_CID_MIN = 3;
const VSOCK_CID_MAX = 0xffff_fffe;
/** sun_path holds 108 bytes; guest-initiated paths add `_<port>` (up to 11 bytes). */
const UDS_PATH_MAX = 107 - 11;

function checkReadable(what: string, path: string): void {
  try {
    const st = fs.statSync(path);
    if (!st.isFile()) throw new ConfigError(`${what} ${path} is not a regular file`);
    fs.accessSync(path, fs.constants.R_OK);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `${what} ${path} does not exist` : `${what} ${path} is not readable (${code ?? String(e)})`);
  }
}

/** Checks everything that can be checked before a VM is built; throws ConfigError with one line. */
export function validateVmConfig(c: VmConfig): VmConfig {
  if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(c.name)) throw new ConfigError(`--name "${c.name}": a letter first, then letters, digits, _ . - (at most 64)`);
  checkReadable('kernel', c.kernelPath);
  if (c.initrdPath !== undefined) checkReadable('initrd', c.initrdPath);
  if (!Number.isInteger(c.memoryMiB) || c.memoryMiB < MIN_MEMORY_MIB) throw new ConfigError(`memory ${c.memoryMiB} MiB is too small: give at least --memory ${MIN_MEMORY_MIB}`);
  if (c.memoryMiB > MAX_MEMORY_MIB) throw new ConfigError(`memory ${c.memoryMiB} MiB is more than the ${MAX_MEMORY_MIB} MiB qvmm supports`);
  if (!Number.isInteger(c.vcpus) || c.vcpus < 1 || c.vcpus > MAX_VCPUS) throw new ConfigError(`--vcpus must be an integer from 1 to ${MAX_VCPUS}`);
  if (c.cmdline.includes('\0')) throw new ConfigError('the kernel command line must not contain NUL bytes');
  for (const d of c.drives) {
    checkReadable('disk', d.path);
    if (!d.readOnly) {
      try {
        fs.accessSync(d.path, fs.constants.W_OK);
      } catch {
        throw new ConfigError(`disk ${d.path} is not writable: add ,ro to attach it read-only`);
      }
    }
  }
  if (c.vsock) {
    const { guestCid, udsPath } = c.vsock;
    if (!Number.isInteger(guestCid) || guestCid < VSOCK_CID_MIN || guestCid > VSOCK_CID_MAX) throw new ConfigError(`--vsock-cid must be an integer from ${VSOCK_CID_MIN} to ${VSOCK_CID_MAX}`);
    if (udsPath.length === 0 || Buffer.byteLength(udsPath) > UDS_PATH_MAX) throw new ConfigError(`--vsock-uds path must be 1 to ${UDS_PATH_MAX} bytes long`);
  }
  if (c.apiSocket !== undefined && (c.apiSocket.length === 0 || Buffer.byteLength(c.apiSocket) > 107)) throw new ConfigError('--api-sock path must be 1 to 107 bytes long');
  return c;
}

/** Parses `PATH[,ro]` as the CLI's --disk takes it. */
export function parseDriveArg(arg: string): DriveConfig {
  const parts = arg.split(',');
  const path = parts[0] ?? '';
  if (path === '') throw new ConfigError(`--disk ${arg}: the path is empty`);
  let readOnly = false;
  for (const opt of parts.slice(1)) {
    if (opt === 'ro') readOnly = true;
    else if (opt === 'rw') readOnly = false;
    else throw new ConfigError(`--disk ${arg}: unknown option "${opt}" (PATH[,ro])`);
  }
  return { path, readOnly };
}
