// The runtime's exit path on real KVM: PIO and MMIO exits reach the right BusDevice through a VcpuThread worker,
// device answers reach the guest, unmapped ports float to 0xff, and the real 16550A prints what a guest driver sends.
import fs from 'node:fs';
import t from 'tap';
import { Serial, UART_LSR, UART_RBR_THR } from '../../vmm/devices/legacy/serial.js';
import { COM1_PORT_BASE, COM1_PORT_LEN } from '../../vmm/devices/legacy/ports.js';
import type { BusDevice } from '../../vmm/bus/bus-device.js';
import { TINY_CODE_ADDR } from '../helpers/tiny-guest.js';
import { GuestAsm } from '../helpers/tiny-vm-asm.js';
import { RecordingDevice, buildTinyVm, waitUntil } from '../helpers/tiny-vm.js';

const PORT_A = 0x510;
const PORT_A_LEN = 4;
const PORT_B = 0x520;
const PORT_B_LEN = 2;
/** no device here (and none near it) */
const UNMAPPED_PORT = 0x530;
/** above all RAM: reachable only from 32-bit code */
const MMIO_BASE = 0xd000_0000;
const MMIO_LEN = 0x1000;
const A_READ_VALUE = 0xa5;
const MMIO_READ_OFFSET = 8;
const MMIO_READ_VALUE = 0x5c;
const LSR_THR_EMPTY = 0x20;

if (!fs.existsSync('/dev/kvm')) {
  t.plan(0, 'no /dev/kvm here: run this tier with `node dist/test/harness/run-tests.js kvm`');
} else {
  run();
}

function run(): void {
  t.test('PIO and MMIO exits reach the right device, answers reach the guest, unmapped ports read 0xff', async (t) => {
    const devA = new RecordingDevice((offset) => (offset === 0 ? [A_READ_VALUE] : []));
    const devB = new RecordingDevice();
    const devM = new RecordingDevice((offset) => (offset === MMIO_READ_OFFSET ? [MMIO_READ_VALUE] : []));
    const code = new GuestAsm(32, TINY_CODE_ADDR)
      .movDxImm(PORT_A).movAlImm(0x11).outDxAl()
      .movDxImm(PORT_B).movAlImm(0x22).outDxAl()
      .movDxImm(PORT_B + 1).movAlImm(0x23).outDxAl()
      .movAlImm(0x33).movMemAl(MMIO_BASE + 4)
      .movEaxImm(0x12345678).movMemEax(MMIO_BASE + 0x10)
      // device A's answer goes back out to device B
      .movDxImm(PORT_A).inAlDx()
      .movDxImm(PORT_B).outDxAl()
      // the MMIO device's answer goes back out to device A
      .movAlMem(MMIO_BASE + MMIO_READ_OFFSET)
      .movDxImm(PORT_A + 2).outDxAl()
      // an unmapped port floats high; the value goes out to device B
      .movDxImm(UNMAPPED_PORT).inAlDx()
      .movDxImm(PORT_B).outDxAl()
      // a write to an unmapped port is dropped
      .movAlImm(0x77).movDxImm(UNMAPPED_PORT).outDxAl()
      .hlt()
      .bytes();
    const tvm = buildTinyVm({
      name: 'buses',
      mode: 'protected32',
      images: [{ addr: TINY_CODE_ADDR, bytes: code }],
      vcpus: [{ entry: TINY_CODE_ADDR }],
      devices: [
        { bus: 'pio', base: PORT_A, len: PORT_A_LEN, name: 'dev-a', device: devA },
        { bus: 'pio', base: PORT_B, len: PORT_B_LEN, name: 'dev-b', device: devB },
        { bus: 'mmio', base: MMIO_BASE, len: MMIO_LEN, name: 'dev-m', device: devM },
      ],
    });
    t.teardown(() => tvm.close());
    await tvm.start();
    await waitUntil(() => tvm.guestStops.length > 0 || tvm.errors.length > 0, 'the guest to halt');
    t.same(tvm.errors, [], 'no vCPU errors');
    t.same(tvm.guestStops, [{ vcpuId: 0, reason: 'hlt' }], 'the vCPU ran to its hlt');
    t.same(devA.accesses, [
      { op: 'write', offset: 0, data: [0x11] },
      { op: 'read', offset: 0, data: [A_READ_VALUE] },
      { op: 'write', offset: 2, data: [MMIO_READ_VALUE] },
    ], 'device A: its write, the read it answered, and the MMIO answer written back at offset 2');
    t.same(devB.accesses, [
      { op: 'write', offset: 0, data: [0x22] },
      { op: 'write', offset: 1, data: [0x23] },
      { op: 'write', offset: 0, data: [A_READ_VALUE] },
      { op: 'write', offset: 0, data: [0xff] },
    ], "device B: its writes, device A's answer echoed back, 0xff from the unmapped port");
    t.same(devM.accesses, [
      { op: 'write', offset: 4, data: [0x33] },
      { op: 'write', offset: 0x10, data: [0x78, 0x56, 0x34, 0x12] },
      { op: 'read', offset: MMIO_READ_OFFSET, data: [MMIO_READ_VALUE] },
    ], 'MMIO device: byte and dword writes at their offsets (little-endian), then its read');
  });

  t.test('the real 16550A at 0x3f8 prints what a polling guest driver sends', async (t) => {
    const out: number[] = [];
    const serial = new Serial({ interrupt: () => undefined, output: (b) => void out.push(...b) });
    /** the order of the guest's register accesses, to check it polled LSR before each byte */
    const order: string[] = [];
    const observed: BusDevice = {
      read: (offset, data) => {
        serial.read(offset, data);
        order.push(`r${offset}`);
      },
      write: (offset, data) => {
        serial.write(offset, data);
        order.push(`w${offset}`);
      },
    };
    const code = new GuestAsm(16, TINY_CODE_ADDR)
      .movSiLabel('msg')
      .label('next').lodsb().cmpAlImm(0).jz('done').movBlAl()
      .label('wait').movDxImm(COM1_PORT_BASE + UART_LSR).inAlDx().testAlImm(LSR_THR_EMPTY).jz('wait')
      .movDxImm(COM1_PORT_BASE + UART_RBR_THR).movAlBl().outDxAl()
      .jmp('next')
      .label('done').hlt()
      .label('msg').ascii('hello\n\0')
      .bytes();
    const tvm = buildTinyVm({
      name: 'uart',
      images: [{ addr: TINY_CODE_ADDR, bytes: code }],
      vcpus: [{ entry: TINY_CODE_ADDR }],
      devices: [{ bus: 'pio', base: COM1_PORT_BASE, len: COM1_PORT_LEN, name: 'com1', device: observed }],
    });
    t.teardown(() => tvm.close());
    await tvm.start();
    await waitUntil(() => tvm.guestStops.length > 0 || tvm.errors.length > 0, 'the guest to halt');
    t.same(tvm.errors, [], 'no vCPU errors');
    t.same(tvm.guestStops, [{ vcpuId: 0, reason: 'hlt' }], 'the vCPU ran to its hlt');
    t.equal(Buffer.from(out).toString('latin1'), 'hello\n', 'the output sink got exactly "hello\\n"');
    t.equal(serial.metrics.txBytes, 6, 'six bytes transmitted');
    t.same(order, Array(6).fill(['r5', 'w0']).flat(), 'each THR write follows an LSR read');
  });
}
