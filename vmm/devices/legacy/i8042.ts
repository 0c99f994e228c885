// The i8042 keyboard controller, as much as Linux uses: status, command byte, self-tests, CPU reset.
import type { BusDevice } from '../../bus/bus-device.js';

/** Register offsets, relative to the data port 0x60 (Firecracker's layout: port - 0x60). */
export const I8042_DATA_OFFSET = 0;
/** read: status register; write: controller command */
export const I8042_STATUS_COMMAND_OFFSET = 4;

/** Status: output buffer full (a byte waits at the data port) */
export const STATUS_OUTPUT_FULL = 0x01;
/** Status: input buffer full (controller busy; we are never busy) */
export const STATUS_INPUT_FULL = 0x02;
/** Status: system flag, set once the self-test passed (POST) */
export const STATUS_SYSTEM_FLAG = 0x04;
/** Status: the last write went to the command port (1) or the data port (0) */
export const STATUS_COMMAND_DATA = 0x08;
/** Status: keyboard not inhibited by the key lock */
export const STATUS_KEYBOARD_UNLOCKED = 0x10;
/** Status: the waiting byte came from the aux (mouse) port; never set, there is no aux device */
export const STATUS_AUX_DATA = 0x20;

/** Command byte (controller configuration): keyboard interrupt (IRQ 1) enabled */
export const CTR_KEYBOARD_INT = 0x01;
/** Command byte: aux interrupt (IRQ 12) enabled */
export const CTR_AUX_INT = 0x02;
/** Command byte: system flag (POST passed) */
export const CTR_SYSTEM_FLAG = 0x04;
/** Command byte: keyboard clock disabled */
export const CTR_KEYBOARD_DISABLE = 0x10;
/** Command byte: aux clock disabled */
export const CTR_AUX_DISABLE = 0x20;
/** Command byte: translate scancode set 2 to set 1 */
export const CTR_TRANSLATE = 0x40;

/** Controller commands (written to port 0x64). */
export const CMD_READ_CTR = 0x20;
export const CMD_WRITE_CTR = 0x60;
export const CMD_AUX_DISABLE = 0xa7;
export const CMD_AUX_ENABLE = 0xa8;
export const CMD_AUX_TEST = 0xa9;
export const CMD_SELF_TEST = 0xaa;
export const CMD_KEYBOARD_TEST = 0xab;
export const CMD_KEYBOARD_DISABLE = 0xad;
export const CMD_KEYBOARD_ENABLE = 0xae;
export const CMD_READ_OUTPUT_PORT = 0xd0;
export const CMD_WRITE_OUTPUT_PORT = 0xd1;
export const CMD_WRITE_KEYBOARD_OUTPUT = 0xd2;
export const CMD_WRITE_AUX_OUTPUT = 0xd3;
export const CMD_WRITE_AUX = 0xd4;
/** Pulse output lines; bit 0 clear pulses the CPU reset line. 0xFE (only reset) is what Linux's reboot=k writes. */
export const CMD_PULSE_OUTPUT_BASE = 0xf0;
export const CMD_RESET_CPU = 0xfe;

/** Replies. */
export const SELF_TEST_OK = 0x55;
export const INTERFACE_TEST_OK = 0x00;
/** aux interface test: "clock line stuck low", which tells Linux there is no aux port without a timeout */
export const AUX_TEST_NO_DEVICE = 0x01;

/** Output port bit 0: CPU reset line (active low) */
export const OUTPUT_PORT_RESET_LINE = 0x01;
/** Output port bit 1: A20 gate */
export const OUTPUT_PORT_A20 = 0x02;

/** Keyboard commands (written to port 0x60 with no controller command pending) and replies. */
export const KBD_CMD_ECHO = 0xee;
export const KBD_CMD_GET_ID = 0xf2;
export const KBD_CMD_RESET = 0xff;
export const KBD_REPLY_ACK = 0xfa;
export const KBD_REPLY_SELF_TEST_PASSED = 0xaa;
/** MF2 keyboard id bytes */
export const KBD_ID = [0xab, 0x83] as const;

/** Scancode set 2 make codes for Ctrl+Alt+Del (Firecracker's SendCtrlAltDel sequence). */
const KEY_CTRL = [0x14] as const;
const KEY_ALT = [0x11] as const;
const KEY_DEL = [0xe0, 0x71] as const;

/** Output buffer size (as Linux's I8042_BUFFER_SIZE expects). */
export const I8042_BUFFER_SIZE = 16;

export interface I8042Options {
  /** The guest asked for a CPU reset (command 0xFE): with reboot=k this is how a Linux guest reboots or halts. */
  onReset: () => void;
  /** Raise IRQ 1 (edge), when keyboard data is waiting and the guest enabled the keyboard interrupt. */
  interrupt?: () => void;
}

/**
 * A keyboard controller with a keyboard that acknowledges everything and no aux port. Controller
 * command replies are polled by the guest (no interrupt); keyboard bytes raise IRQ 1.
 */
export class I8042 implements BusDevice {
  /** accesses ignored for an unsupported width or offset */
  ignoredAccesses = 0;
  resetRequests = 0;

  private status = STATUS_KEYBOARD_UNLOCKED | STATUS_SYSTEM_FLAG;
  private ctr = CTR_KEYBOARD_INT | CTR_SYSTEM_FLAG | CTR_TRANSLATE;
  private outputPort = OUTPUT_PORT_RESET_LINE | OUTPUT_PORT_A20;
  /** a controller command waiting for its parameter byte at the data port, or null */
  private pendingCommand: number | null = null;
  private readonly buffer: number[] = [];
  /** whether the bytes in the buffer came from the keyboard (raise IRQ 1 for them) */
  private bufferFromKeyboard = false;

  constructor(private readonly options: I8042Options) {}

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (data.length !== 1) {
      this.ignoredAccesses++;
      return;
    }
    if (offset === I8042_STATUS_COMMAND_OFFSET) {
      data[0] = this.status | (this.buffer.length > 0 ? STATUS_OUTPUT_FULL : 0);
    } else if (offset === I8042_DATA_OFFSET) {
      data[0] = this.buffer.shift() ?? 0;
      // More keyboard bytes waiting: signal again so the guest comes back for them.
      if (this.buffer.length > 0 && this.bufferFromKeyboard) this.keyboardInterrupt();
    } else {
      this.ignoredAccesses++;
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length !== 1) {
      this.ignoredAccesses++;
      return;
    }
    const value = data[0]!;
    if (offset === I8042_STATUS_COMMAND_OFFSET) {
      this.status |= STATUS_COMMAND_DATA;
      this.command(value);
    } else if (offset === I8042_DATA_OFFSET) {
      this.status &= ~STATUS_COMMAND_DATA;
      const command = this.pendingCommand;
      this.pendingCommand = null;
      if (command === null) this.keyboardCommand(value);
      else this.commandParameter(command, value);
    } else {
      this.ignoredAccesses++;
    }
  }

  /**
   * Queues Ctrl+Alt+Del for the guest (a graceful shutdown request to an init that handles it).
   * Returns false when the output buffer has no room for the whole sequence.
   */
  sendCtrlAltDel(): boolean {
    const bytes = [...KEY_CTRL, ...KEY_ALT, ...KEY_DEL];
    // Don't overwrite a controller reply the guest is about to read.
    if (this.buffer.length > 0 && !this.bufferFromKeyboard) return false;
    if (this.buffer.length + bytes.length > I8042_BUFFER_SIZE) return false;
    this.buffer.push(...bytes);
    this.bufferFromKeyboard = true;
    this.keyboardInterrupt();
    return true;
  }

  /** The controller command byte (for tests and describe). */
  commandByte(): number {
    return this.ctr;
  }

  private command(cmd: number): void {
    this.pendingCommand = null;
    switch (cmd) {
      case CMD_READ_CTR:
        this.replyController(this.ctr);
        return;
      case CMD_READ_OUTPUT_PORT:
        this.replyController(this.outputPort);
        return;
      case CMD_WRITE_CTR:
      case CMD_WRITE_OUTPUT_PORT:
      case CMD_WRITE_KEYBOARD_OUTPUT:
      case CMD_WRITE_AUX_OUTPUT:
      case CMD_WRITE_AUX:
        this.pendingCommand = cmd;
        return;
      case CMD_SELF_TEST:
        this.status |= STATUS_SYSTEM_FLAG;
        this.replyController(SELF_TEST_OK);
        return;
      case CMD_KEYBOARD_TEST:
        this.replyController(INTERFACE_TEST_OK);
        return;
      case CMD_AUX_TEST:
        this.replyController(AUX_TEST_NO_DEVICE);
        return;
      case CMD_KEYBOARD_DISABLE:
        this.ctr |= CTR_KEYBOARD_DISABLE;
        return;
      case CMD_KEYBOARD_ENABLE:
        this.ctr &= ~CTR_KEYBOARD_DISABLE;
        return;
      case CMD_AUX_DISABLE:
        this.ctr |= CTR_AUX_DISABLE;
        return;
      case CMD_AUX_ENABLE:
        this.ctr &= ~CTR_AUX_DISABLE;
        return;
      default:
        if (cmd >= CMD_PULSE_OUTPUT_BASE && (cmd & OUTPUT_PORT_RESET_LINE) === 0) this.reset();
      // Other commands (password, mux, vendor ones) are ignored: no reply, as on a controller without them.
    }
  }

  private commandParameter(cmd: number, value: number): void {
    switch (cmd) {
      case CMD_WRITE_CTR:
        this.ctr = value;
        break;
      case CMD_WRITE_OUTPUT_PORT:
        this.outputPort = value;
        // Driving the reset line low resets the CPU, as pulsing it does.
        if ((value & OUTPUT_PORT_RESET_LINE) === 0) this.reset();
        break;
      case CMD_WRITE_KEYBOARD_OUTPUT:
        this.replyKeyboard([value]);
        break;
      case CMD_WRITE_AUX_OUTPUT:
        // No aux port: the byte comes back without STATUS_AUX_DATA, which Linux's aux loop test
        // reads as "no aux" at once instead of waiting for a timeout.
        this.replyController(value);
        break;
      default:
        // CMD_WRITE_AUX: no aux device to receive it.
        break;
    }
  }

  /** A byte written to the data port with no controller command pending goes to the keyboard. */
  private keyboardCommand(value: number): void {
    switch (value) {
      case KBD_CMD_RESET:
        this.replyKeyboard([KBD_REPLY_ACK, KBD_REPLY_SELF_TEST_PASSED]);
        break;
      case KBD_CMD_GET_ID:
        this.replyKeyboard([KBD_REPLY_ACK, ...KBD_ID]);
        break;
      case KBD_CMD_ECHO:
        this.replyKeyboard([KBD_CMD_ECHO]);
        break;
      default:
        // Set LEDs, typematic rate, enable scanning, their parameters...: a keyboard with no keys acks all.
        this.replyKeyboard([KBD_REPLY_ACK]);
    }
  }

  /** A controller reply replaces whatever was waiting (the guest asked for exactly this byte next). */
  private replyController(byte: number): void {
    this.buffer.length = 0;
    this.buffer.push(byte);
    this.bufferFromKeyboard = false;
  }

  private replyKeyboard(bytes: readonly number[]): void {
    this.buffer.length = 0;
    this.buffer.push(...bytes);
    this.bufferFromKeyboard = true;
    this.keyboardInterrupt();
  }

  private keyboardInterrupt(): void {
    if ((this.ctr & CTR_KEYBOARD_INT) !== 0) this.options.interrupt?.();
  }

  private reset(): void {
    this.resetRequests++;
    this.options.onReset();
  }
}
