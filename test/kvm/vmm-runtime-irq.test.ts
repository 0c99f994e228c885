// An interrupt raised through IrqLine (KVM_IRQFD) reaches a real-mode guest via the in-kernel 8259 PIC and LAPIC.
import fs from 'node:fs';
import t from 'tap';
import { native } from '../../kvm-native/index.js';
import { IrqLine } from '../../vmm/runtime/irq.js';
import { TINY_CODE_ADDR } from '../helpers/tiny-guest.js';
import { GuestAsm } from '../helpers/tiny-vm-asm.js';
import { RecordingDevice, acceptPicInterrupts, buildTinyVm, sleep, waitUntil } from '../helpers/tiny-vm.js';

/** master 8259: command port (ICW1, OCW2/EOI) and data port (ICW2-4, OCW1/mask) */
const PIC_COMMAND = 0x20;
const PIC_DATA = 0x21;
/** ICW1: edge triggered, cascade, ICW4 follows */
const PIC_ICW1_INIT = 0x11;
/** ICW2: vectors of IRQ 0-7 start here */
const PIC_VECTOR_BASE = 0x20;
/** ICW3: the slave PIC hangs on IRQ 2 */
const PIC_ICW3_SLAVE_ON_IRQ2 = 0x04;
/** ICW4: 8086 mode */
const PIC_ICW4_8086 = 0x01;
/** OCW2: non-specific end of interrupt */
const PIC_EOI = 0x20;
/** the ISA IRQ (= GSI) the test raises */
const TEST_IRQ = 5;
const TEST_VECTOR = PIC_VECTOR_BASE + TEST_IRQ;
/** real-mode interrupt vector table: 4 bytes (offset, segment) per vector at address 0 */
const IVT_ENTRY_BYTES = 4;
const MARKER_PORT = 0x550;
/** written once the PIC and IVT are set up, before sti */
const READY_MARKER = 0xee;
/** a byte of guest RAM counting handler runs */
const COUNT_ADDR = 0x600;

if (!fs.existsSync('/dev/kvm')) {
  t.plan(0, 'no /dev/kvm here: run this tier with `node dist/test/harness/run-tests.js kvm`');
} else {
  run();
}

function run(): void {
  t.test('an irqfd interrupt runs the guest handler through the in-kernel PIC, once per trigger (EOI works)', async (t) => {
    const ivtEntry = TEST_VECTOR * IVT_ENTRY_BYTES;
    const code = new GuestAsm(16, TINY_CODE_ADDR)
      .cli()
      .movAlImm(PIC_ICW1_INIT).outImmAl(PIC_COMMAND)
      .movAlImm(PIC_VECTOR_BASE).outImmAl(PIC_DATA)
      .movAlImm(PIC_ICW3_SLAVE_ON_IRQ2).outImmAl(PIC_DATA)
      .movAlImm(PIC_ICW4_8086).outImmAl(PIC_DATA)
      .movAlImm(~(1 << TEST_IRQ) & 0xff).outImmAl(PIC_DATA)
      .movMemLabel16(ivtEntry, 'handler').movMemImm16(ivtEntry + 2, 0)
      .movDxImm(MARKER_PORT).movAlImm(READY_MARKER).outDxAl()
      .sti()
      .label('idle').hlt().jmp('idle')
      .label('handler')
      .movAlMem(COUNT_ADDR).incAl().movMemAl(COUNT_ADDR)
      .movDxImm(MARKER_PORT).outDxAl()
      .movAlImm(PIC_EOI).outImmAl(PIC_COMMAND)
      .iret()
      .bytes();
    const markers = new RecordingDevice();
    const tvm = buildTinyVm({
      name: 'irq',
      irqchip: true,
      images: [{ addr: TINY_CODE_ADDR, bytes: code }],
      vcpus: [{ entry: TINY_CODE_ADDR }],
      devices: [{ bus: 'pio', base: MARKER_PORT, len: 1, name: 'marker', device: markers }],
    });
    acceptPicInterrupts(tvm.vcpuFds[0]!);
    const irq = new IrqLine(tvm.vmFd.fd, TEST_IRQ);
    t.teardown(async () => {
      await tvm.close();
      native.close(irq.fd);
    });
    const written = (): number[] => markers.writes().map((a) => a.data[0]!);
    await tvm.start();
    await waitUntil(() => written().length > 0 || tvm.errors.length > 0, 'the guest to set up the PIC');
    t.same(written(), [READY_MARKER], 'the guest set up the PIC and IVT');
    await sleep(200);
    t.same(written(), [READY_MARKER], 'no handler run before the IRQ is raised');

    irq.trigger();
    await waitUntil(() => written().length >= 2 || tvm.errors.length > 0, 'the first interrupt');
    irq.trigger();
    await waitUntil(() => written().length >= 3 || tvm.errors.length > 0, 'the second interrupt (after EOI)');
    await sleep(100);
    t.same(written(), [READY_MARKER, 1, 2], 'the handler ran once per trigger');
    t.same(tvm.errors, [], 'no vCPU errors');
    t.same(tvm.guestStops, [], 'the vCPU halts in the kernel (irqchip) and never leaves');
  });
}
