// Control API codec: request/response parsing and validation, the description checks, round trips.
import t from 'tap';
import {
  MAX_LINE_BYTES,
  ProtocolError,
  encodeError,
  encodeRequest,
  encodeResult,
  parseRequest,
  parseResponse,
  validateResult,
  validateVmDescription,
  type VmDescription,
} from '../../vmm/api/protocol.js';

const description: VmDescription = {
  apiVersion: 1,
  name: 'work',
  state: 'running',
  pid: 4242,
  vcpus: 2,
  memoryMiB: 512,
  uptimeMs: 1500,
  devices: [
    { kind: 'serial', id: 'com1', bus: 'pio', base: 0x3f8, len: 8, irq: 4 },
    { kind: 'virtio-blk', id: 'root', bus: 'mmio', base: 0xd000_0000, len: 0x1000, irq: 5, properties: { path: '/var/lib/qubes/root.img', readOnly: true } },
  ],
};

t.test('requests: valid forms parse, the encoder round-trips', (t) => {
  t.same(parseRequest('{"id":1,"method":"describe"}'), { id: 1, method: 'describe' });
  t.same(parseRequest(Buffer.from('{"id":0,"method":"stop","params":{}}')), { id: 0, method: 'stop' });
  t.same(parseRequest(' {"method":"pause","id":9} \r'), { id: 9, method: 'pause' }, 'whitespace and CR tolerated');
  const line = encodeRequest({ id: 3, method: 'resume' });
  t.equal(line.endsWith('\n'), true);
  t.same(parseRequest(line.trimEnd()), { id: 3, method: 'resume' });
  t.end();
});

t.test('requests: every malformed form is a ProtocolError with a clear message', (t) => {
  const cases: [string, RegExp, number | null][] = [
    ['{"id":1,"method":', /not valid JSON/, null],
    ['[1,2]', /not a JSON object/, null],
    ['{"method":"describe"}', /"id" must be a non-negative integer/, null],
    ['{"id":-1,"method":"describe"}', /"id"/, null],
    ['{"id":1.5,"method":"describe"}', /"id"/, null],
    ['{"id":"1","method":"describe"}', /"id"/, null],
    ['{"id":2,"method":"reboot"}', /unknown method "reboot" \(known: describe, pause, resume, stop\)/, 2],
    ['{"id":3}', /"method" must be a string/, 3],
    ['{"id":4,"method":"pause","force":true}', /unknown field "force" in request/, 4],
    ['{"id":5,"method":"stop","params":{"timeout":1}}', /unknown field "timeout" in params of stop/, 5],
    ['{"id":6,"method":"stop","params":[]}', /"params" of stop must be an object/, 6],
  ];
  for (const [line, message, id] of cases) {
    try {
      parseRequest(line);
      t.fail(`accepted ${line}`);
    } catch (e) {
      t.ok(e instanceof ProtocolError, line);
      t.match((e as ProtocolError).message, message, line);
      t.equal((e as ProtocolError).id, id, `id of ${line}`);
    }
  }
  t.throws(() => parseRequest(Uint8Array.of(0x7b, 0xff, 0x7d)), { message: /not valid UTF-8/ });
  t.throws(() => parseRequest(`{"id":1,"method":"describe","x":"${'a'.repeat(MAX_LINE_BYTES)}"}`), { message: /exceeds 65536/ });
  t.end();
});

t.test('responses: results and errors round-trip; malformed ones are refused', (t) => {
  t.same(parseResponse(encodeResult(1, null).trimEnd()), { id: 1, ok: true, result: null });
  t.same(parseResponse(encodeError(null, 'bad').trimEnd()), { id: null, ok: false, error: 'bad' });
  const r = parseResponse(encodeResult(2, description));
  t.equal(r.ok, true);
  t.same(validateResult('describe', r.ok ? r.result : null), description);
  t.throws(() => parseResponse('{"id":1,"ok":true}'), /no "result"/);
  t.throws(() => parseResponse('{"id":1,"ok":"yes","result":1}'), /"ok" must be true or false/);
  t.throws(() => parseResponse('{"id":1,"ok":false,"error":5}'), /"error" must be a string/);
  t.throws(() => parseResponse('{"id":1,"ok":true,"result":1,"extra":1}'), /unknown field "extra"/);
  t.throws(() => validateResult('pause', { done: true }), /result of pause must be null/);
  t.end();
});

t.test('descriptions: a good one passes unchanged, bad ones name the field', (t) => {
  t.same(validateVmDescription(JSON.parse(JSON.stringify(description))), description);
  const bad = (patch: Record<string, unknown>): unknown => ({ ...description, ...patch });
  t.throws(() => validateVmDescription(bad({ state: 'crashed' })), /description.state must be one of running, paused, stopping/);
  t.throws(() => validateVmDescription(bad({ vcpus: -1 })), /description.vcpus/);
  t.throws(() => validateVmDescription(bad({ name: '' })), /description.name/);
  t.throws(() => validateVmDescription(bad({ secret: 1 })), /unknown field "secret"/);
  t.throws(() => validateVmDescription(bad({ devices: [{ ...description.devices[0], bus: 'pci' }] })), /devices\[0\].bus/);
  t.throws(() => validateVmDescription(bad({ devices: [description.devices[0], description.devices[0]] })), /"com1" twice/);
  t.throws(() => validateVmDescription(bad({ devices: [{ ...description.devices[1], properties: { nested: { a: 1 } } }] })), /properties.nested/);
  t.end();
});
