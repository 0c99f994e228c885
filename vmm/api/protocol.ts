// The control API's wire format (newline-delimited JSON over a unix socket): types, validation, encoding.
//
// Request:  {"id": 7, "method": "describe", "params": {}}          (params optional)
// Response: {"id": 7, "ok": true, "result": {...}}  or  {"id": 7, "ok": false, "error": "message"}
// A request that cannot be read far enough to know its id is answered with "id": null.

/** Version of this protocol, reported by describe; bumped on incompatible changes. */
export const CONTROL_API_VERSION = 1;
/** Longest request or response line, in bytes, not counting the newline. */
export const MAX_LINE_BYTES = 64 * 1024;

export const METHODS = ['describe', 'pause', 'resume', 'stop'] as const;
export type Method = (typeof METHODS)[number];

/** running: vCPUs run; paused: vCPUs held outside KVM_RUN; stopping: stop() was called, the VMM is going away. */
export const VM_STATES = ['running', 'paused', 'stopping'] as const;
export type VmState = (typeof VM_STATES)[number];

export const DEVICE_BUSES = ['pio', 'mmio'] as const;
export type DeviceBus = (typeof DEVICE_BUSES)[number];

/** A flat property bag for device details (a drive's path, read-only flag, a vsock CID...). */
export type DeviceProperties = Record<string, string | number | boolean | null>;

/** One device of the VM, where the guest finds it. */
export interface DeviceDescription {
  /** what it is: 'serial', 'i8042', 'virtio-blk', 'virtio-rng', 'virtio-vsock', 'virtio-net' ... */
  kind: string;
  /** unique among the VM's devices: 'com1', 'root', 'private', 'vsock' ... */
  id: string;
  bus: DeviceBus;
  /** first port (pio) or guest-physical address (mmio) */
  base: number;
  len: number;
  /** the guest interrupt line (GSI), or null for none */
  irq: number | null;
  /** kind-specific details */
  properties?: DeviceProperties;
}

/** What the VMM reports about its VM: what qubesd needs for supervision and for qvm-ls. */
export interface VmDescription {
  /** CONTROL_API_VERSION of the VMM */
  apiVersion: number;
  /** the qube's name, as qubesd gave it to the VMM */
  name: string;
  state: VmState;
  /** the VMM's process id */
  pid: number;
  vcpus: number;
  memoryMiB: number;
  /** milliseconds since the vCPUs first ran */
  uptimeMs: number;
  devices: DeviceDescription[];
}

/** Parameters of each method: none take any yet (an empty object or no "params" at all). */
export interface MethodParams {
  describe: Record<string, never>;
  pause: Record<string, never>;
  resume: Record<string, never>;
  stop: Record<string, never>;
}

export interface MethodResults {
  describe: VmDescription;
  pause: null;
  resume: null;
  stop: null;
}

export interface Request<M extends Method = Method> {
  id: number;
  method: M;
  params?: MethodParams[M];
}

export type Response =
  | { id: number | null; ok: true; result: unknown }
  | { id: number | null; ok: false; error: string };

/** A request or response that breaks the protocol. `id` is the request's id when it could be read. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly id: number | null = null,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const LIMITS = { name: 255, word: 64, devices: 1024, properties: 64, propertyString: 4096, error: 4096 };

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isMethod = (v: unknown): v is Method => typeof v === 'string' && (METHODS as readonly string[]).includes(v);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one line (without its newline) as UTF-8 JSON. */
function parseLine(line: Uint8Array | string, what: string): unknown {
  const length = typeof line === 'string' ? Buffer.byteLength(line) : line.length;
  if (length > MAX_LINE_BYTES) throw new ProtocolError(`${what} line of ${length} bytes exceeds ${MAX_LINE_BYTES}`);
  let text: string;
  try {
    text = typeof line === 'string' ? line : utf8.decode(line);
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ProtocolError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function rejectUnknownFields(o: JsonObject, known: readonly string[], what: string, id: number | null): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new ProtocolError(`unknown field ${JSON.stringify(key)} in ${what}`, id);
  }
}

/** Parses and validates one request line. Throws ProtocolError (carrying the id when it was valid). */
export function parseRequest(line: Uint8Array | string): Request {
  const v = parseLine(line, 'request');
  if (!isObject(v)) throw new ProtocolError('request is not a JSON object');
  if (!isId(v.id)) throw new ProtocolError('request "id" must be a non-negative integer');
  const id = v.id;
  rejectUnknownFields(v, ['id', 'method', 'params'], 'request', id);
  if (typeof v.method !== 'string') throw new ProtocolError('request "method" must be a string', id);
  if (!isMethod(v.method)) {
    throw new ProtocolError(`unknown method ${JSON.stringify(v.method)} (known: ${METHODS.join(', ')})`, id);
  }
  if (v.params !== undefined) {
    if (!isObject(v.params)) throw new ProtocolError(`"params" of ${v.method} must be an object`, id);
    // No method takes parameters yet.
    rejectUnknownFields(v.params, [], `params of ${v.method}`, id);
  }
  return { id, method: v.method };
}

/** Validates one response line (structure only; see validateResult for the result). */
export function parseResponse(line: Uint8Array | string): Response {
  const v = parseLine(line, 'response');
  if (!isObject(v)) throw new ProtocolError('response is not a JSON object');
  if (v.id !== null && !isId(v.id)) throw new ProtocolError('response "id" must be a non-negative integer or null');
  const id = v.id;
  if (v.ok === true) {
    rejectUnknownFields(v, ['id', 'ok', 'result'], 'response', id);
    if (!('result' in v)) throw new ProtocolError('response has no "result"', id);
    return { id, ok: true, result: v.result };
  }
  if (v.ok === false) {
    rejectUnknownFields(v, ['id', 'ok', 'error'], 'response', id);
    if (typeof v.error !== 'string') throw new ProtocolError('response "error" must be a string', id);
    return { id, ok: false, error: v.error.slice(0, LIMITS.error) };
  }
  throw new ProtocolError('response "ok" must be true or false', id);
}

function checkString(v: unknown, max: number, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new ProtocolError(`${what} must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

function checkCount(v: unknown, what: string): number {
  if (!isCount(v)) throw new ProtocolError(`${what} must be a non-negative integer`);
  return v;
}

function validateDevice(v: unknown, i: number): DeviceDescription {
  const what = `devices[${i}]`;
  if (!isObject(v)) throw new ProtocolError(`${what} is not an object`);
  rejectUnknownFields(v, ['kind', 'id', 'bus', 'base', 'len', 'irq', 'properties'], what, null);
  const d: DeviceDescription = {
    kind: checkString(v.kind, LIMITS.word, `${what}.kind`),
    id: checkString(v.id, LIMITS.word, `${what}.id`),
    bus: (DEVICE_BUSES as readonly unknown[]).includes(v.bus) ? (v.bus as DeviceBus) : fail(`${what}.bus must be one of ${DEVICE_BUSES.join(', ')}`),
    base: checkCount(v.base, `${what}.base`),
    len: checkCount(v.len, `${what}.len`),
    irq: v.irq === null ? null : checkCount(v.irq, `${what}.irq`),
  };
  if (v.properties !== undefined) d.properties = validateProperties(v.properties, `${what}.properties`);
  return d;
}

function validateProperties(v: unknown, what: string): DeviceProperties {
  if (!isObject(v)) throw new ProtocolError(`${what} is not an object`);
  const keys = Object.keys(v);
  if (keys.length > LIMITS.properties) throw new ProtocolError(`${what} has more than ${LIMITS.properties} entries`);
  const out: DeviceProperties = {};
  for (const key of keys) {
    checkString(key, LIMITS.word, `${what} key`);
    const value = v[key];
    if (typeof value === 'string' && value.length > LIMITS.propertyString) {
      throw new ProtocolError(`${what}.${key} is longer than ${LIMITS.propertyString} characters`);
    }
    if (!(value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)))) {
      throw new ProtocolError(`${what}.${key} must be a string, finite number, boolean or null`);
    }
    out[key] = value;
  }
  return out;
}

function fail(message: string): never {
  throw new ProtocolError(message);
}

/** Validates a VmDescription (the server checks its own before sending; the client checks what it got). */
export function validateVmDescription(v: unknown): VmDescription {
  if (!isObject(v)) throw new ProtocolError('description is not an object');
  rejectUnknownFields(v, ['apiVersion', 'name', 'state', 'pid', 'vcpus', 'memoryMiB', 'uptimeMs', 'devices'], 'description', null);
  if (!Array.isArray(v.devices)) throw new ProtocolError('description.devices is not an array');
  if (v.devices.length > LIMITS.devices) throw new ProtocolError(`description has more than ${LIMITS.devices} devices`);
  const devices = v.devices.map(validateDevice);
  const ids = new Set<string>();
  for (const d of devices) {
    if (ids.has(d.id)) throw new ProtocolError(`description lists device id ${JSON.stringify(d.id)} twice`);
    ids.add(d.id);
  }
  return {
    apiVersion: checkCount(v.apiVersion, 'description.apiVersion'),
    name: checkString(v.name, LIMITS.name, 'description.name'),
    state: (VM_STATES as readonly unknown[]).includes(v.state) ? (v.state as VmState) : fail(`description.state must be one of ${VM_STATES.join(', ')}`),
    pid: checkCount(v.pid, 'description.pid'),
    vcpus: checkCount(v.vcpus, 'description.vcpus'),
    memoryMiB: checkCount(v.memoryMiB, 'description.memoryMiB'),
    uptimeMs: checkCount(v.uptimeMs, 'description.uptimeMs'),
    devices,
  };
}

/** Validates the result of `method` as received in a response. */
export function validateResult<M extends Method>(method: M, result: unknown): MethodResults[M] {
  if (method === 'describe') return validateVmDescription(result) as MethodResults[M];
  if (result !== null) throw new ProtocolError(`result of ${method} must be null`);
  return null as MethodResults[M];
}

/** One line (with its newline) for a request. */
export function encodeRequest<M extends Method>(request: Request<M>): string {
  return `${JSON.stringify(request)}\n`;
}

/** One line (with its newline) for a successful response. */
export function encodeResult(id: number, result: unknown): string {
  return `${JSON.stringify({ id, ok: true, result })}\n`;
}

/** One line (with its newline) for an error response. */
export function encodeError(id: number | null, message: string): string {
  return `${JSON.stringify({ id, ok: false, error: message.slice(0, LIMITS.error) })}\n`;
}
