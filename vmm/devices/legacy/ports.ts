// The PC legacy I/O port layout: where the UART and the i8042 sit, their IRQs, and ports Linux probes.
import type { Bus } from '../../bus/bus.js';
import type { BusDevice } from '../../bus/bus-device.js';
import { BusWindow } from '../../bus/bus-window.js';

/** COM1, the 16550A UART the guest console (console=ttyS0) uses: 8 registers from 0x3f8, ISA IRQ 4. */
export const COM1_PORT_BASE = 0x3f8;
export const COM1_PORT_LEN = 8;
export const COM1_IRQ = 4;

/** The i8042 keyboard controller: data port 0x60, status (read) / command (write) port 0x64, keyboard IRQ 1. */
export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
export const I8042_KEYBOARD_IRQ = 1;

/**
 * Ports a Linux guest touches that we deliberately leave unclaimed. An unclaimed PIO read returns
 * all-ones and a write is dropped, which is what Linux expects of absent hardware; no sink device
 * is needed, but the vCPU loop should not log each of these accesses (0x80 is written on every
 * outb_p, thousands of times per boot).
 * - 0x80: POST code port, used as a ~1 us I/O delay (io_delay=0x80, the x86 default).
 * - 0x2f8, 0x3e8, 0x2e8 (+8): COM2-4; the 8250 probe reads all-ones from the scratch register and skips them.
 * - 0x70/0x71: CMOS RTC index/data (no RTC: the guest's clock comes from kvm-clock).
 * - 0xcf8/0xcfc (+4): PCI configuration mechanism #1 (no PCI bus until VFIO adds one).
 * - 0x81-0x8f: DMA page registers of the absent ISA DMA controller.
 */
export const IO_DELAY_PORT = 0x80;
const QUIET_PORT_RANGES: readonly (readonly [base: number, len: number])[] = [
  [IO_DELAY_PORT, 1],
  [0x2f8, 8],
  [0x3e8, 8],
  [0x2e8, 8],
  [0x70, 2],
  [0xcf8, 8],
  [0x81, 0xf],
];

/** True for an unclaimed port Linux is known to touch harmlessly (see above): don't log it. */
export function isQuietUnclaimedPort(port: number): boolean {
  return QUIET_PORT_RANGES.some(([base, len]) => port >= base && port < base + len);
}

/** Offset of the i8042's command/status register relative to its data port (Firecracker's layout). */
export const I8042_COMMAND_OFFSET = I8042_COMMAND_PORT - I8042_DATA_PORT;

export interface LegacyPioDevices {
  /** the COM1 UART (Serial from serial.ts) */
  serial?: BusDevice;
  /** the keyboard controller (I8042 from i8042.ts; offsets 0 = data, 4 = command/status) */
  i8042?: BusDevice;
}

/**
 * Maps the legacy devices on the PIO bus at their standard ports. The i8042 is mapped as two
 * one-byte windows (0x60 and 0x64) onto the one device, so the ports between stay free.
 */
export function insertLegacyDevices(pio: Bus, devices: LegacyPioDevices): void {
  if (devices.serial) pio.insert(devices.serial, COM1_PORT_BASE, COM1_PORT_LEN, 'serial (COM1)');
  if (devices.i8042) {
    pio.insert(new BusWindow(devices.i8042, 0), I8042_DATA_PORT, 1, 'i8042 data');
    pio.insert(new BusWindow(devices.i8042, I8042_COMMAND_OFFSET), I8042_COMMAND_PORT, 1, 'i8042 command');
  }
}
