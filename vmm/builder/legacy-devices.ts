// The legacy PC devices of every VM: COM1 (console on stdio or discarded) and the i8042 whose reset ends the VM.
import type { VmFd } from '../kvm/vm.js';
import type { Bus } from '../bus/bus.js';
import { Serial } from '../devices/legacy/serial.js';
import { I8042 } from '../devices/legacy/i8042.js';
import { COM1_IRQ, I8042_KEYBOARD_IRQ, insertLegacyDevices } from '../devices/legacy/ports.js';
import { IrqLine } from '../runtime/irq.js';
import { ConsoleOutput, StdinFeeder } from '../runtime/stdio-console.js';
import type { Closable } from '../runtime/vm.js';

export interface LegacyOptions {
  readonly stdio: boolean;
  readonly onReset: () => void;
  readonly log: (line: string) => void;
}

export interface LegacyDevices extends Closable {
  readonly serial: Serial;
  readonly i8042: I8042;
}

export function createLegacyDevices(vmFd: VmFd, pio: Bus, opts: LegacyOptions): LegacyDevices {
  const serialIrq = new IrqLine(vmFd.fd, COM1_IRQ);
  const kbdIrq = new IrqLine(vmFd.fd, I8042_KEYBOARD_IRQ);
  const out = new ConsoleOutput((b) => {
    if (opts.stdio) process.stdout.write(b);
  });
  let feeder: StdinFeeder | undefined;
  const serial = new Serial({
    interrupt: () => serialIrq.trigger(),
    output: (bytes) => out.write(bytes),
    onInputSpace: () => feeder?.feed(),
  });
  const i8042 = new I8042({ onReset: opts.onReset, interrupt: () => kbdIrq.trigger() });
  insertLegacyDevices(pio, { serial, i8042 });
  if (opts.stdio) {
    feeder = new StdinFeeder(serial);
    feeder.start();
  }
  return {
    serial,
    i8042,
    close: () => {
      out.flush();
      feeder?.close();
    },
  };
}
