// The hardware-reduced ACPI sleep control/status registers: the guest writing SLP_EN with SLP_TYP=S5 powers off.
import type { Bus } from '../../bus/bus.js';
import type { BusDevice } from '../../bus/bus-device.js';
import { ACPI_S5_SLEEP_TYPE, ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_PORT_LEN } from '../../arch/x86_64/acpi/layout.js';

/** Register offsets within the device's 2-port window (ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT). */
export const SLEEP_CONTROL_OFFSET = 0;
export const SLEEP_STATUS_OFFSET = 1;

/** SLEEP_CONTROL_REG bits (ACPI 6.5 section 4.8.3.7): SLP_TYP in bits 2..4, SLP_EN in bit 5. */
export const SLP_TYP_SHIFT = 2;
export const SLP_TYP_MASK = 0x7 << SLP_TYP_SHIFT;
export const SLP_EN = 1 << 5;
/** SLEEP_STATUS_REG: WAK_STS, bit 7. Linux writes it to clear before sleeping; we never set it (no wake). */
export const WAK_STS = 1 << 7;

export interface SleepControlOptions {
  /** called (once per write) when the guest asks for S5 (soft off); the VMM stops the VM */
  readonly onPowerOff: () => void;
}

/**
 * The sleep registers as a BusDevice on the PIO bus. Only S5 is honoured: other sleep types (S1-S4) have no
 * \_Sx package in our DSDT, so a guest writing one is misbehaving, and the write is ignored like every other
 * write without SLP_EN. Reads return 0: WAK_STS is never set.
 */
export class AcpiSleepControl implements BusDevice {
  readonly #onPowerOff: () => void;

  constructor(opts: SleepControlOptions) {
    this.#onPowerOff = opts.onPowerOff;
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== SLEEP_CONTROL_OFFSET || data.length === 0) return;
    const value = data[0]!;
    if ((value & SLP_EN) !== 0 && (value & SLP_TYP_MASK) >>> SLP_TYP_SHIFT === ACPI_S5_SLEEP_TYPE) this.#onPowerOff();
  }
}

/** Maps the sleep registers on the PIO bus at the ports the FADT advertises. */
export function insertAcpiSleepControl(pio: Bus, device: AcpiSleepControl): void {
  pio.insert(device, ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_PORT_LEN, 'ACPI sleep control/status');
}
