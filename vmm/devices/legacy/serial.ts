// A 16550A UART as a plain state machine: registers, a bounded receive FIFO, THRE/RDA interrupts.
import type { BusDevice } from '../../bus/bus-device.js';

// Register offsets from the UART's base port. Some share an offset: the access direction or
// LCR.DLAB picks the register.
/** read: Receiver Buffer; write: Transmitter Holding Register */
export const UART_RBR_THR = 0;
/** with LCR.DLAB: Divisor Latch low byte */
export const UART_DLL = 0;
/** Interrupt Enable Register */
export const UART_IER = 1;
/** with LCR.DLAB: Divisor Latch high byte */
export const UART_DLM = 1;
/** read: Interrupt Identification Register; write: FIFO Control Register */
export const UART_IIR_FCR = 2;
/** Line Control Register */
export const UART_LCR = 3;
/** Modem Control Register */
export const UART_MCR = 4;
/** Line Status Register */
export const UART_LSR = 5;
/** Modem Status Register */
export const UART_MSR = 6;
/** Scratch Register */
export const UART_SCR = 7;
/** number of registers (the bus range length) */
export const UART_REGISTER_COUNT = 8;

/** IER: Received Data Available interrupt */
export const IER_RDA = 0x01;
/** IER: Transmitter Holding Register Empty interrupt */
export const IER_THR_EMPTY = 0x02;
/** IER: Receiver Line Status interrupt */
export const IER_RLS = 0x04;
/** IER: Modem Status interrupt (we never raise it: the modem lines never change) */
export const IER_MSI = 0x08;
/** the IER bits a 16550A has; Linux's probe checks that writing 0x0f reads back 0x0f and the rest read 0 */
export const IER_VALID_BITS = 0x0f;

/** IIR: no interrupt pending */
export const IIR_NO_INT = 0x01;
/** IIR: THR empty is the pending interrupt */
export const IIR_THR_EMPTY = 0x02;
/** IIR: received data available is the pending interrupt */
export const IIR_RDA = 0x04;
/** IIR: receiver line status (overrun) is the pending interrupt */
export const IIR_RLS = 0x06;
/** IIR: both bits set = FIFOs enabled on a 16550A (Linux reads IIR >> 6 == 3 to detect one) */
export const IIR_FIFO_ENABLED = 0xc0;

/** FCR: enable the FIFOs */
export const FCR_ENABLE_FIFO = 0x01;
/** FCR: clear the receive FIFO */
export const FCR_CLEAR_RX = 0x02;
/** FCR: clear the transmit FIFO */
export const FCR_CLEAR_TX = 0x04;

/** LCR: Divisor Latch Access Bit */
export const LCR_DLAB = 0x80;
/** LCR: 8 data bits, 1 stop bit, no parity */
export const LCR_8N1 = 0x03;

/** MCR: Data Terminal Ready */
export const MCR_DTR = 0x01;
/** MCR: Request To Send */
export const MCR_RTS = 0x02;
/** MCR: auxiliary output 1 */
export const MCR_OUT1 = 0x04;
/** MCR: auxiliary output 2 (gates the IRQ on PCs; Linux sets it) */
export const MCR_OUT2 = 0x08;
/** MCR: loopback mode */
export const MCR_LOOP = 0x10;
/** the MCR bits a 16550A has */
export const MCR_VALID_BITS = 0x1f;

/** LSR: data ready (receive FIFO not empty) */
export const LSR_DATA_READY = 0x01;
/** LSR: overrun error (a byte was lost) */
export const LSR_OVERRUN = 0x02;
/** LSR: THR empty (room for another byte) */
export const LSR_THR_EMPTY = 0x20;
/** LSR: transmitter empty (THR and shift register idle) */
export const LSR_TX_EMPTY = 0x40;

/** MSR: Clear To Send */
export const MSR_CTS = 0x10;
/** MSR: Data Set Ready */
export const MSR_DSR = 0x20;
/** MSR: Ring Indicator */
export const MSR_RI = 0x40;
/** MSR: Data Carrier Detect */
export const MSR_DCD = 0x80;

/** receive FIFO bound: what the guest has not read yet; beyond it enqueueInput() refuses bytes */
export const SERIAL_INPUT_FIFO_SIZE = 64;

/** divisor for 9600 baud from the 1.8432 MHz clock (the reset value; meaningless for a virtual line) */
const DEFAULT_DIVISOR = 0x000c;
/** modem inputs outside loopback: a connected, ready peer */
const DEFAULT_MSR = MSR_DCD | MSR_DSR | MSR_CTS;

export interface SerialOptions {
  /** Called on each rising edge of the UART's interrupt output (raise IRQ 4 edge-triggered, e.g. an irqfd). */
  interrupt: () => void;
  /** Receives each byte the guest transmits, as a fresh 1-byte array the sink may keep; the sink should buffer. */
  output: (bytes: Uint8Array) => void;
  /** Called once space opens in the input FIFO after enqueueInput() accepted less than it was given. */
  onInputSpace?: () => void;
}

/** Counters for describe and logs; the guest drives them, so they are informational only. */
export interface SerialMetrics {
  txBytes: number;
  rxBytes: number;
  /** bytes lost to a full receive FIFO (only in loopback: host input is back-pressured instead) */
  rxOverruns: number;
  /** accesses ignored for an unsupported width */
  ignoredAccesses: number;
}

/**
 * The 16550A as Linux's 8250 driver sees it. Transmission is instant (the byte goes to `output` on
 * the THR write), so LSR always shows THRE|TEMT. The interrupt output is a level computed from the
 * registers (like the real chip); `interrupt` is called when that level rises.
 */
export class Serial implements BusDevice {
  readonly metrics: SerialMetrics = { txBytes: 0, rxBytes: 0, rxOverruns: 0, ignoredAccesses: 0 };

  private divisor = DEFAULT_DIVISOR;
  private ier = 0;
  private lcr = LCR_8N1;
  private mcr = MCR_OUT2;
  private scr = 0;
  private fifoEnabled = false;
  private overrun = false;
  /** the THR-empty interrupt condition: set when THR empties (or IER.THRE rises), cleared by reading it in IIR */
  private thrEmptyPending = false;
  private irqLevel = false;
  /** enqueueInput() turned bytes away; call onInputSpace when room opens */
  private inputBlocked = false;

  private readonly rx = new Uint8Array(SERIAL_INPUT_FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;

  constructor(private readonly options: SerialOptions) {}

  read(offset: number, data: Uint8Array): void {
    if (data.length !== 1 || offset < 0 || offset >= UART_REGISTER_COUNT) {
      data.fill(0);
      this.metrics.ignoredAccesses++;
      return;
    }
    data[0] = this.readRegister(offset);
    this.notifyInputSpace();
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length !== 1 || offset < 0 || offset >= UART_REGISTER_COUNT) {
      this.metrics.ignoredAccesses++;
      return;
    }
    this.writeRegister(offset, data[0]!);
    this.notifyInputSpace();
  }

  /**
   * Queues bytes from the host side (console input) for the guest. Returns how many were accepted
   * (fewer than given when the FIFO fills, none in loopback mode); the caller keeps the rest and
   * waits for onInputSpace (or polls inputSpace()).
   */
  enqueueInput(bytes: Uint8Array): number {
    const n = this.loopback() ? 0 : Math.min(this.inputSpace(), bytes.length);
    for (let i = 0; i < n; i++) this.pushRx(bytes[i]!);
    if (n < bytes.length) this.inputBlocked = true;
    this.metrics.rxBytes += n;
    this.updateInterrupt();
    return n;
  }

  /** How many bytes enqueueInput() would accept now. */
  inputSpace(): number {
    return this.loopback() ? 0 : SERIAL_INPUT_FIFO_SIZE - this.rxCount;
  }

  /** True while the UART's interrupt output is asserted (for tests and describe). */
  interruptAsserted(): boolean {
    return this.irqLevel;
  }

  private readRegister(offset: number): number {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case UART_RBR_THR:
        return dlab ? this.divisor & 0xff : this.readRbr();
      case UART_IER:
        return dlab ? this.divisor >>> 8 : this.ier;
      case UART_IIR_FCR:
        return this.readIir();
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR:
        return this.readLsr();
      case UART_MSR:
        return this.readMsr();
      case UART_SCR:
        return this.scr;
      default:
        return 0;
    }
  }

  private writeRegister(offset: number, value: number): void {
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case UART_RBR_THR:
        if (dlab) this.divisor = (this.divisor & 0xff00) | value;
        else this.writeThr(value);
        break;
      case UART_IER:
        if (dlab) this.divisor = (this.divisor & 0x00ff) | (value << 8);
        else this.writeIer(value);
        break;
      case UART_IIR_FCR:
        this.writeFcr(value);
        break;
      case UART_LCR:
        this.lcr = value;
        break;
      case UART_MCR:
        this.writeMcr(value);
        break;
      case UART_SCR:
        this.scr = value;
        break;
      default:
        // LSR and MSR are read-only (writes are factory-test only on real parts).
        break;
    }
  }

  private writeThr(value: number): void {
    if (this.loopback()) {
      // Loopback: the transmitter feeds the receiver; nothing leaves the chip.
      if (this.rxCount < SERIAL_INPUT_FIFO_SIZE) this.pushRx(value);
      else {
        this.overrun = true;
        this.metrics.rxOverruns++;
      }
    } else {
      this.metrics.txBytes++;
      this.options.output(Uint8Array.of(value));
    }
    // The byte left THR at once, so THR is empty again: that is a new THRE interrupt condition.
    this.thrEmptyPending = true;
    this.updateInterrupt();
  }

  private writeIer(value: number): void {
    const old = this.ier;
    this.ier = value & IER_VALID_BITS;
    // Enabling THRE while THR is empty raises the interrupt at once (a real 16550 does; Linux's
    // startup test sets UART_BUG_THRE and falls back to a timer when it doesn't).
    if ((this.ier & IER_THR_EMPTY) !== 0 && (old & IER_THR_EMPTY) === 0) this.thrEmptyPending = true;
    if ((this.ier & IER_THR_EMPTY) === 0) this.thrEmptyPending = false;
    this.updateInterrupt();
  }

  private writeFcr(value: number): void {
    const enable = (value & FCR_ENABLE_FIFO) !== 0;
    // Changing the FIFO mode clears both FIFOs on a real 16550A, as does the explicit clear bit.
    if (enable !== this.fifoEnabled || (value & FCR_CLEAR_RX) !== 0) this.clearRx();
    this.fifoEnabled = enable;
    this.updateInterrupt();
  }

  private writeMcr(value: number): void {
    this.mcr = value & MCR_VALID_BITS;
  }

  private readRbr(): number {
    let byte = 0;
    if (this.rxCount > 0) {
      byte = this.rx[this.rxHead]!;
      this.rxHead = (this.rxHead + 1) % SERIAL_INPUT_FIFO_SIZE;
      this.rxCount--;
    }
    this.updateInterrupt();
    return byte;
  }

  private readIir(): number {
    const iir = this.pendingInterrupt();
    // Reading IIR acknowledges a THRE interrupt (only when it is the one reported).
    if (iir === IIR_THR_EMPTY) this.thrEmptyPending = false;
    this.updateInterrupt();
    return iir | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
  }

  private readLsr(): number {
    let lsr = LSR_THR_EMPTY | LSR_TX_EMPTY;
    if (this.rxCount > 0) lsr |= LSR_DATA_READY;
    if (this.overrun) lsr |= LSR_OVERRUN;
    // Reading LSR clears the error bits (and so a receiver line status interrupt).
    this.overrun = false;
    this.updateInterrupt();
    return lsr;
  }

  private readMsr(): number {
    if (!this.loopback()) return DEFAULT_MSR;
    // Loopback wires the modem outputs to the inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
    // Linux's probe sets LOOP|RTS|OUT2 and expects MSR & 0xf0 == CTS|DCD.
    let msr = 0;
    if (this.mcr & MCR_RTS) msr |= MSR_CTS;
    if (this.mcr & MCR_DTR) msr |= MSR_DSR;
    if (this.mcr & MCR_OUT1) msr |= MSR_RI;
    if (this.mcr & MCR_OUT2) msr |= MSR_DCD;
    return msr;
  }

  /** The IIR interrupt code, by the 16550's priority: line status, received data, THR empty. */
  private pendingInterrupt(): number {
    if ((this.ier & IER_RLS) !== 0 && this.overrun) return IIR_RLS;
    if ((this.ier & IER_RDA) !== 0 && this.rxCount > 0) return IIR_RDA;
    if ((this.ier & IER_THR_EMPTY) !== 0 && this.thrEmptyPending) return IIR_THR_EMPTY;
    return IIR_NO_INT;
  }

  private updateInterrupt(): void {
    const level = this.pendingInterrupt() !== IIR_NO_INT;
    const rising = level && !this.irqLevel;
    this.irqLevel = level;
    if (rising) this.options.interrupt();
  }

  private pushRx(byte: number): void {
    this.rx[(this.rxHead + this.rxCount) % SERIAL_INPUT_FIFO_SIZE] = byte;
    this.rxCount++;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  /** Runs after each register access, once the state is consistent, since the callback may enqueue input. */
  private notifyInputSpace(): void {
    if (!this.inputBlocked || this.inputSpace() === 0) return;
    this.inputBlocked = false;
    this.options.onInputSpace?.();
  }

  private loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }
}
