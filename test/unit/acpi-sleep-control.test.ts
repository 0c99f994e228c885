// The ACPI sleep registers: only SLP_EN with SLP_TYP=5 (S5) on the control register powers off; reads are 0.
import t from 'tap';
import {
  AcpiSleepControl,
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
