// i8042: CPU reset (reboot=k), self-tests, command byte, keyboard replies, no aux port, both ports on one device.
import t from 'tap';
import { Bus } from '../../vmm/bus/bus.js';
import {
  CMD_AUX_TEST,
  CMD_KEYBOARD_TEST,
  CMD_READ_CTR,
  CMD_RESET_CPU,
  CMD_SELF_TEST,
  CMD_WRITE_AUX_OUTPUT,
  CMD_WRITE_CTR,
  CMD_WRITE_OUTPUT_PORT,
  CTR_KEYBOARD_INT,
  I8042,
  STATUS_AUX_DATA,
  STATUS_INPUT_FULL,
  STATUS_OUTPUT_FULL,
} from '../../vmm/devices/legacy/i8042.js';
import { I8042_COMMAND_PORT, I8042_DATA_PORT, insertLegacyDevices } from '../../vmm/devices/legacy/ports.js';

function setup() {
  let resets = 0;
  let irqs = 0;
  const i8042 = new I8042({ onReset: () => resets++, interrupt: () => irqs++ });
  const bus = new Bus('pio');
  insertLegacyDevices(bus, { i8042 });
  const inb = (port: number): number => {
    const d = new Uint8Array(1);
    if (!bus.read(port, d)) throw new Error(`port ${port} unclaimed`);
    return d[0]!;
  };
  const outb = (port: number, v: number): void => {
    if (!bus.write(port, Uint8Array.of(v))) throw new Error(`port ${port} unclaimed`);
  };
  /** Linux's i8042_command: wait for IBF clear, write, then read `replies` bytes once OBF is set. */
  const command = (cmd: number, param?: number, replies = 0): number[] | null => {
    if (inb(I8042_COMMAND_PORT) & STATUS_INPUT_FULL) return null;
    outb(I8042_COMMAND_PORT, cmd);
    if (param !== undefined) outb(I8042_DATA_PORT, param);
    const got: number[] = [];
    for (let i = 0; i < replies; i++) {
      if (!(inb(I8042_COMMAND_PORT) & STATUS_OUTPUT_FULL)) return null; // Linux would time out here
      got.push(inb(I8042_DATA_PORT));
    }
    return got;
  };
  return { i8042, bus, inb, outb, command, resets: () => resets, irqs: () => irqs };
}

t.test('0xFE on the command port resets the CPU (reboot=k)', (t) => {
  const { inb, outb, resets } = setup();
  // native_machine_emergency_restart's kb_wait: IBF must read clear.
  t.equal(inb(I8042_COMMAND_PORT) & STATUS_INPUT_FULL, 0);
  outb(I8042_COMMAND_PORT, CMD_RESET_CPU);
  t.equal(resets(), 1);
  t.end();
});

t.test('0xFE on the data port, or other commands, do not reset', (t) => {
  const { outb, resets, command } = setup();
  outb(I8042_DATA_PORT, CMD_RESET_CPU);
  command(CMD_SELF_TEST, undefined, 1);
  command(0xff);
  t.equal(resets(), 0);
  t.end();
});

t.test('writing the output port with the reset line low resets', (t) => {
  const { command, resets } = setup();
  command(CMD_WRITE_OUTPUT_PORT, 0x03);
  t.equal(resets(), 0);
  command(CMD_WRITE_OUTPUT_PORT, 0x02);
  t.equal(resets(), 1);
  t.end();
});

t.test("Linux's controller probe: flush, self test, command byte read/write, interface test", (t) => {
  const { command, inb } = setup();
  t.equal(inb(I8042_COMMAND_PORT) & STATUS_OUTPUT_FULL, 0, 'nothing to flush');
  t.same(command(CMD_SELF_TEST, undefined, 1), [0x55]);
  t.same(command(CMD_KEYBOARD_TEST, undefined, 1), [0x00]);
  const ctr = command(CMD_READ_CTR, undefined, 1)![0]!;
  t.same(command(CMD_READ_CTR, undefined, 1), [ctr], 'two reads agree');
  command(CMD_WRITE_CTR, 0x56);
  t.same(command(CMD_READ_CTR, undefined, 1), [0x56]);
  t.equal(inb(I8042_COMMAND_PORT) & STATUS_OUTPUT_FULL, 0, 'reply consumed');
  t.end();
});

t.test('no aux port: the loop test fails at once (no AUXDATA) and the aux test reports an error', (t) => {
  const { command, inb, outb } = setup();
  outb(I8042_COMMAND_PORT, CMD_WRITE_AUX_OUTPUT);
  outb(I8042_DATA_PORT, 0x5a);
  const status = inb(I8042_COMMAND_PORT);
  t.equal(status & STATUS_OUTPUT_FULL, STATUS_OUTPUT_FULL, 'a reply, so no timeout');
  t.equal(status & STATUS_AUX_DATA, 0, 'but not from the aux port');
  inb(I8042_DATA_PORT);
  const [aux] = command(CMD_AUX_TEST, undefined, 1)!;
  t.ok(aux !== 0 && aux !== 0xfa && aux !== 0xff, 'Linux reads this as no aux port');
  t.end();
});

t.test('keyboard commands are acknowledged with IRQ 1; the keyboard identifies and resets', (t) => {
  const { inb, outb, irqs, command } = setup();
  outb(I8042_DATA_PORT, 0xf2); // GET ID
  t.equal(irqs(), 1);
  const got = [inb(I8042_DATA_PORT)];
  t.equal(irqs(), 2, 'more bytes waiting: another interrupt');
  got.push(inb(I8042_DATA_PORT), inb(I8042_DATA_PORT));
  t.same(got, [0xfa, 0xab, 0x83]);
  outb(I8042_DATA_PORT, 0xff); // reset
  t.same([inb(I8042_DATA_PORT), inb(I8042_DATA_PORT)], [0xfa, 0xaa]);
  outb(I8042_DATA_PORT, 0xed); // set LEDs
  outb(I8042_DATA_PORT, 0x00); // its parameter
  t.same([inb(I8042_DATA_PORT)], [0xfa]);
  // With the keyboard interrupt disabled in the command byte, replies are polled only.
  command(CMD_WRITE_CTR, 0x00);
  const before = irqs();
  outb(I8042_DATA_PORT, 0xf4);
  t.equal(irqs(), before);
  t.equal(inb(I8042_COMMAND_PORT) & STATUS_OUTPUT_FULL, STATUS_OUTPUT_FULL);
  t.end();
});

t.test('Ctrl+Alt+Del is queued as keyboard bytes with an interrupt', (t) => {
  const { i8042, inb, irqs } = setup();
  t.equal(i8042.commandByte() & CTR_KEYBOARD_INT, CTR_KEYBOARD_INT);
  t.equal(i8042.sendCtrlAltDel(), true);
  t.equal(irqs(), 1);
  const got: number[] = [];
  while (inb(I8042_COMMAND_PORT) & STATUS_OUTPUT_FULL) got.push(inb(I8042_DATA_PORT));
  t.same(got, [0x14, 0x11, 0xe0, 0x71]);
  t.end();
});

t.test('ports 0x61-0x63 stay free for others; odd widths are ignored', (t) => {
  const { bus, i8042, resets } = setup();
  for (const port of [0x61, 0x62, 0x63]) t.equal(bus.find(port), undefined);
  i8042.write(4, Uint8Array.of(CMD_RESET_CPU, 0));
  t.equal(resets(), 0, 'a 2-byte write is not a reset command');
  const d = new Uint8Array(2).fill(0xff);
  i8042.read(4, d);
  t.same([...d], [0, 0]);
  t.equal(i8042.ignoredAccesses, 2);
  t.end();
});
