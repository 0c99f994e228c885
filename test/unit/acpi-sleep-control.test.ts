// The ACPI sleep registers: only SLP_EN with SLP_TYP=5 (S5) on the control register powers off; reads are 0.
import t from 'tap';
import { Bus } from '../../vmm/bus/bus.js';
import { ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT } from '../../vmm/arch/x86_64/acpi/layout.js';
import {
  AcpiSleepControl,
  insertAcpiSleepControl,
  SLEEP_CONTROL_OFFSET,
  SLEEP_STATUS_OFFSET,
  SLP_EN,
  SLP_TYP_SHIFT,
  WAK_STS,
} from '../../vmm/devices/acpi/sleep-control.js';

function device(): { dev: AcpiSleepControl; calls: () => number } {
  let n = 0;
  const dev = new AcpiSleepControl({ onPowerOff: () => n++ });
  return { dev, calls: () => n };
}

t.test("Linux's S5 write powers off", async (t) => {
  const { dev, calls } = device();
  // What acpi_hw_extended_sleep does: clear WAK_STS in the status register, then write SLP_TYP|SLP_EN.
  dev.write(SLEEP_STATUS_OFFSET, Uint8Array.of(WAK_STS));
  t.equal(calls(), 0, 'clearing wake status does nothing');
  dev.write(SLEEP_CONTROL_OFFSET, Uint8Array.of((5 << SLP_TYP_SHIFT) | SLP_EN));
  t.equal(calls(), 1);
  t.equal((5 << 2) | 0x20, 0x34, 'the byte Linux writes for S5');
});

t.test('every control byte: power off exactly when SLP_EN is set and SLP_TYP is 5', async (t) => {
  let expected = 0;
  const { dev, calls } = device();
  for (let v = 0; v < 256; v++) {
    const before = calls();
    dev.write(SLEEP_CONTROL_OFFSET, Uint8Array.of(v));
    const want = (v & 0x20) !== 0 && ((v >> 2) & 7) === 5;
    if (want) expected++;
    t.equal(calls() - before, want ? 1 : 0, `0x${v.toString(16)}`);
  }
  t.equal(expected, 16, 'only bits 0, 1, 6 and 7 may vary');
});

t.test('writes to the status register or past it, and empty writes, are ignored', async (t) => {
  const { dev, calls } = device();
  dev.write(SLEEP_STATUS_OFFSET, Uint8Array.of(0x34));
  dev.write(2, Uint8Array.of(0x34));
  dev.write(SLEEP_CONTROL_OFFSET, new Uint8Array(0));
  t.equal(calls(), 0);
  dev.write(SLEEP_CONTROL_OFFSET, Uint8Array.of(0x34, 0xff));
  t.equal(calls(), 1, 'a wider write uses its low byte');
});

t.test('reads return 0 at any offset and width (WAK_STS never set)', async (t) => {
  const { dev } = device();
  for (const off of [SLEEP_CONTROL_OFFSET, SLEEP_STATUS_OFFSET]) {
    for (const w of [1, 2, 4]) {
      const d = new Uint8Array(w).fill(0xaa);
      dev.read(off, d);
      t.same(d, new Uint8Array(w), `offset ${off} width ${w}`);
    }
  }
});

t.test('mapped on the PIO bus at the ports the FADT advertises', async (t) => {
  let n = 0;
  const pio = new Bus('pio');
  insertAcpiSleepControl(pio, new AcpiSleepControl({ onPowerOff: () => n++ }));
  t.ok(pio.write(ACPI_SLEEP_STATUS_PORT, Uint8Array.of(WAK_STS)), 'status port claimed');
  t.equal(n, 0);
  t.ok(pio.write(ACPI_SLEEP_CONTROL_PORT, Uint8Array.of(0x34)), 'control port claimed');
  t.equal(n, 1, "Linux's S5 byte at 0x600 powers off");
  const d = Uint8Array.of(0xff);
  t.ok(pio.read(ACPI_SLEEP_STATUS_PORT, d));
  t.same(d, Uint8Array.of(0), 'status reads 0');
  t.notOk(pio.write(ACPI_SLEEP_CONTROL_PORT + 2, Uint8Array.of(0x34)), 'nothing claimed past the two ports');
});
