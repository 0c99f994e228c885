// 16550A UART: Linux's 8250 probe and startup sequences, transmit, THRE/RDA interrupts, the input FIFO bound.
import t from 'tap';
import {
  FCR_CLEAR_RX,
  FCR_ENABLE_FIFO,
  IER_RDA,
  IER_THR_EMPTY,
  IIR_FIFO_ENABLED,
  IIR_NO_INT,
  IIR_RDA,
  IIR_THR_EMPTY,
  LCR_DLAB,
  LSR_DATA_READY,
  LSR_OVERRUN,
  LSR_THR_EMPTY,
  LSR_TX_EMPTY,
  MCR_LOOP,
  MCR_OUT2,
  MCR_RTS,
  SERIAL_INPUT_FIFO_SIZE,
  Serial,
  UART_DLL,
  UART_DLM,
  UART_IER,
  UART_IIR_FCR,
  UART_LCR,
  UART_LSR,
  UART_MCR,
  UART_MSR,
  UART_RBR_THR,
  UART_SCR,
} from '../../vmm/devices/legacy/serial.js';
import { Bus } from '../../vmm/bus/bus.js';
import { COM1_PORT_BASE, COM1_PORT_LEN } from '../../vmm/devices/legacy/ports.js';

/** A UART on a PIO bus at COM1, driven with inb/outb as the guest driver would. */
function setup() {
  const out: number[] = [];
  let irqs = 0;
  let spaceCalls = 0;
  const serial = new Serial({
    interrupt: () => irqs++,
    output: (bytes) => out.push(...bytes),
    onInputSpace: () => spaceCalls++,
  });
  const bus = new Bus('pio');
  bus.insert(serial, COM1_PORT_BASE, COM1_PORT_LEN, 'com1');
  const inb = (reg: number): number => {
    const d = new Uint8Array(1);
    if (!bus.read(COM1_PORT_BASE + reg, d)) throw new Error('unclaimed');
    return d[0]!;
  };
  const outb = (reg: number, v: number): void => {
    bus.write(COM1_PORT_BASE + reg, Uint8Array.of(v));
  };
  return { serial, inb, outb, out, irqs: () => irqs, spaceCalls: () => spaceCalls };
}

t.test("Linux 8250 autoconfig: IER masking, loopback MSR test, FIFO detection -> 16550A", (t) => {
  const { inb, outb } = setup();
  // IER test (autoconfig): 0 reads back 0, 0x0f reads back 0x0f.
  const saved = inb(UART_IER);
  outb(UART_IER, 0);
  t.equal(inb(UART_IER) & 0x0f, 0);
  outb(UART_IER, 0x0f);
  t.equal(inb(UART_IER) & 0x0f, 0x0f);
  outb(UART_IER, 0xff);
  t.equal(inb(UART_IER), 0x0f, 'bits a 16550A lacks (UUE) read as 0: not an XScale');
  outb(UART_IER, saved);
  // Scratch register read-back.
  outb(UART_SCR, 0xa5);
  t.equal(inb(UART_SCR), 0xa5);
  outb(UART_SCR, 0x5a);
  t.equal(inb(UART_SCR), 0x5a);
  // Loopback test: MCR = LOOP | 0x0a (RTS|OUT2) must give MSR & 0xf0 == 0x90 (CTS|DCD).
  const saveMcr = inb(UART_MCR);
  outb(UART_MCR, MCR_LOOP | 0x0a);
  t.equal(inb(UART_MSR) & 0xf0, 0x90);
  outb(UART_MCR, saveMcr);
  t.equal(inb(UART_MSR) & 0xf0, 0xb0, 'outside loopback: DCD|DSR|CTS');
  // FIFO detection: LCR=0xBF, EFR=0, LCR=0, FCR=ENABLE -> IIR >> 6 == 3.
  outb(UART_LCR, 0xbf);
  outb(UART_IIR_FCR, 0);
  outb(UART_LCR, 0);
  outb(UART_IIR_FCR, FCR_ENABLE_FIFO);
  t.equal(inb(UART_IIR_FCR) >> 6, 3, 'FIFO bits: a 16550A');
  // autoconfig_16550a: with LCR=0x80, "EFR" must not read 0 (else it would be a 16650).
  outb(UART_LCR, 0x80);
  t.not(inb(UART_IIR_FCR), 0);
  outb(UART_LCR, 0);
  // 16750 check: FCR with the 64-byte bit must not set IIR bit 5.
  outb(UART_IIR_FCR, FCR_ENABLE_FIFO | 0x20);
  t.equal(inb(UART_IIR_FCR) & 0xe0, 0xc0, 'not a 16750');
  outb(UART_IIR_FCR, 0);
  t.equal(inb(UART_IIR_FCR) & IIR_FIFO_ENABLED, 0, 'FIFO bits clear once the FIFO is disabled');
  // LSR safety check at startup: not 0xff, transmitter idle.
  t.equal(inb(UART_LSR), LSR_THR_EMPTY | LSR_TX_EMPTY);
  t.end();
});

t.test('divisor latch is reached through DLAB and does not disturb THR/IER', (t) => {
  const { inb, outb, out } = setup();
  outb(UART_LCR, LCR_DLAB | 0x03);
  outb(UART_DLL, 0x01);
  outb(UART_DLM, 0x00);
  t.equal(inb(UART_DLL), 0x01);
  t.equal(inb(UART_DLM), 0x00);
  outb(UART_LCR, 0x03);
  t.equal(inb(UART_IER), 0, 'IER untouched by the DLM write');
  t.same(out, [], 'DLL write transmitted nothing');
  outb(UART_RBR_THR, 0x41);
  t.same(out, [0x41]);
  t.end();
});

t.test('THR writes go to the output sink in order', (t) => {
  const { outb, out, serial } = setup();
  for (const c of Buffer.from('Linux version 6.1\n')) outb(UART_RBR_THR, c);
  t.equal(Buffer.from(out).toString(), 'Linux version 6.1\n');
  t.equal(serial.metrics.txBytes, 18);
  t.end();
});

t.test('THRE interrupt: raised when IER enables it, acknowledged by reading IIR, raised again after THR writes', (t) => {
  const { inb, outb, irqs, serial } = setup();
  outb(UART_IIR_FCR, FCR_ENABLE_FIFO);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_NO_INT);
  t.equal(irqs(), 0);
  // Linux's startup test for UART_BUG_THRE: enabling THRI with THR empty must assert THRE,
  // and again after disabling and re-enabling.
  outb(UART_IER, IER_THR_EMPTY);
  t.equal(irqs(), 1, 'interrupt on enabling THRE');
  t.equal(inb(UART_IIR_FCR), IIR_FIFO_ENABLED | IIR_THR_EMPTY);
  t.equal(serial.interruptAsserted(), false, 'reading IIR acknowledged it');
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_NO_INT);
  outb(UART_IER, 0);
  outb(UART_IER, IER_THR_EMPTY);
  t.equal(irqs(), 2);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_THR_EMPTY, 'no UART_BUG_THRE');
  // Transmitting a byte empties THR again: a new interrupt.
  outb(UART_RBR_THR, 0x41);
  t.equal(irqs(), 3);
  // While the line is still asserted, more writes make no further edges.
  outb(UART_RBR_THR, 0x42);
  t.equal(irqs(), 3);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_THR_EMPTY);
  // Disabling THRE drops the line.
  outb(UART_RBR_THR, 0x43);
  t.equal(irqs(), 4);
  outb(UART_IER, 0);
  t.equal(serial.interruptAsserted(), false);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_NO_INT);
  t.end();
});

t.test('no interrupt for THR writes while IER masks THRE', (t) => {
  const { outb, irqs } = setup();
  outb(UART_IER, 0);
  outb(UART_RBR_THR, 0x41);
  t.equal(irqs(), 0);
  t.end();
});

t.test('received data: LSR.DR, RDA interrupt when enabled, bytes in order, DR clears when drained', (t) => {
  const { inb, outb, irqs, serial } = setup();
  t.equal(serial.enqueueInput(Buffer.from('ab')), 2);
  t.equal(irqs(), 0, 'RDA masked');
  t.equal(inb(UART_LSR) & LSR_DATA_READY, LSR_DATA_READY);
  outb(UART_IER, IER_RDA);
  t.equal(irqs(), 1, 'enabling RDA with data waiting raises the line');
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_RDA);
  t.equal(inb(UART_RBR_THR), 0x61);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_RDA, 'still data: still pending');
  t.equal(inb(UART_RBR_THR), 0x62);
  t.equal(inb(UART_LSR) & LSR_DATA_READY, 0);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_NO_INT);
  t.equal(inb(UART_RBR_THR), 0, 'empty FIFO reads 0');
  serial.enqueueInput(Buffer.from('c'));
  t.equal(irqs(), 2, 'new data after the line dropped: a new edge');
  t.end();
});

t.test('RDA has priority over THRE in IIR', (t) => {
  const { inb, outb, serial } = setup();
  outb(UART_IER, IER_RDA | IER_THR_EMPTY);
  serial.enqueueInput(Uint8Array.of(0x0d));
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_RDA);
  inb(UART_RBR_THR);
  t.equal(inb(UART_IIR_FCR) & 0x0f, IIR_THR_EMPTY);
  t.end();
});

t.test('the input FIFO is bounded; onInputSpace fires once room opens', (t) => {
  const { inb, serial, spaceCalls } = setup();
  const input = new Uint8Array(100).map((_, i) => i);
  const taken = serial.enqueueInput(input);
  t.equal(taken, SERIAL_INPUT_FIFO_SIZE);
  t.equal(serial.inputSpace(), 0);
  t.equal(serial.enqueueInput(input.subarray(taken)), 0, 'full: nothing more accepted');
  t.equal(spaceCalls(), 0);
  t.equal(inb(UART_RBR_THR), 0);
  t.equal(spaceCalls(), 1, 'reading a byte reopens the FIFO');
  t.equal(serial.inputSpace(), 1);
  inb(UART_RBR_THR);
  t.equal(spaceCalls(), 1, 'called once per refusal');
  t.equal(serial.enqueueInput(input.subarray(taken)), 2);
  const got: number[] = [];
  while (inb(UART_LSR) & LSR_DATA_READY) got.push(inb(UART_RBR_THR));
  t.same(got, [...input.subarray(2, taken + 2)], 'no byte lost or reordered');
  t.end();
});

t.test('FCR clear empties the receive FIFO', (t) => {
  const { inb, outb, serial, spaceCalls } = setup();
  serial.enqueueInput(new Uint8Array(70));
  outb(UART_IIR_FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RX);
  t.equal(inb(UART_LSR) & LSR_DATA_READY, 0);
  t.equal(serial.inputSpace(), SERIAL_INPUT_FIFO_SIZE);
  t.equal(spaceCalls(), 1);
  t.end();
});

t.test('loopback: THR feeds RBR, nothing reaches the output, host input refused, overrun flagged', (t) => {
  const { inb, outb, out, serial, spaceCalls } = setup();
  outb(UART_MCR, MCR_LOOP | MCR_RTS | MCR_OUT2);
  outb(UART_RBR_THR, 0x55);
  t.same(out, []);
  t.equal(inb(UART_LSR) & LSR_DATA_READY, LSR_DATA_READY);
  t.equal(inb(UART_RBR_THR), 0x55);
  t.equal(serial.enqueueInput(Uint8Array.of(1)), 0, 'the line input is disconnected in loopback');
  for (let i = 0; i <= SERIAL_INPUT_FIFO_SIZE; i++) outb(UART_RBR_THR, i);
  t.equal(inb(UART_LSR) & LSR_OVERRUN, LSR_OVERRUN);
  t.equal(inb(UART_LSR) & LSR_OVERRUN, 0, 'reading LSR clears the overrun');
  outb(UART_IIR_FCR, FCR_CLEAR_RX);
  outb(UART_MCR, MCR_OUT2);
  t.equal(spaceCalls(), 1, 'leaving loopback reopens host input');
  t.equal(serial.enqueueInput(Uint8Array.of(1)), 1);
  t.end();
});

t.test('odd widths and offsets are ignored; reads return zeros', (t) => {
  const { serial } = setup();
  const wide = new Uint8Array(2).fill(0xff);
  serial.read(0, wide);
  t.same([...wide], [0, 0]);
  serial.write(UART_SCR, Uint8Array.of(1, 2));
  const one = new Uint8Array(1);
  serial.read(UART_SCR, one);
  t.equal(one[0], 0, 'a 2-byte write did not reach SCR');
  serial.read(9, one.fill(0xff));
  t.equal(one[0], 0);
  t.equal(serial.metrics.ignoredAccesses, 3);
  t.end();
});
