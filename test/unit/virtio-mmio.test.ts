// virtio-mmio transport: identification registers, feature negotiation, status machine, queue setup, interrupts, widths.
import t from 'tap';
import { GuestAddress, GuestMemory } from '../../vmm/memory/guest-memory.js';
import { MmioReg, MMIO_INT_CONFIG, MMIO_INT_VRING, VirtioMmioTransport, mmioCmdlineArg } from '../../vmm/devices/virtio/mmio/transport.js';
import {
  VIRTIO_F_VERSION_1, VIRTIO_ID_RNG, VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VIRTIO_STATUS_DRIVER, VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_FAILED, VIRTIO_STATUS_FEATURES_OK,
} from '../../vmm/devices/virtio/constants.js';
import { VirtioRng } from '../../vmm/devices/virtio/rng/device.js';
import type { ActivateContext, VirtioDevice } from '../../vmm/devices/virtio/virtio-device.js';
import { VirtioTestDriver } from '../helpers/virtio-driver.js';

const RAM = 0x10_0000;
const A = VIRTIO_STATUS_ACKNOWLEDGE;
const D = VIRTIO_STATUS_DRIVER;
const F = VIRTIO_STATUS_FEATURES_OK;
const OK = VIRTIO_STATUS_DRIVER_OK;

/** A device that records what the transport asks of it (the transport is under test here, not the device). */
class ProbeDevice implements VirtioDevice {
  readonly deviceType = 42;
  readonly queueMaxSizes = [16, 8];
  readonly availableFeatures = VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | (1n << 3n);
  activations: ActivateContext[] = [];
  resets = 0;
  notifies: number[] = [];
  config = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88);
  readConfig(offset: number, data: Uint8Array): void {
    data.fill(0);
    data.set(this.config.subarray(offset, offset + data.length));
  }
  writeConfig(offset: number, data: Uint8Array): void {
    if (offset + data.length <= this.config.length) this.config.set(data, offset);
  }
  activate(ctx: ActivateContext): void { this.activations.push(ctx); }
  reset(): void { this.resets++; }
  queueNotify(i: number): void { this.notifies.push(i); }
}

function fixture(device: VirtioDevice = new ProbeDevice()) {
  const mem = GuestMemory.forTest([{ start: GuestAddress(0), size: RAM }]);
  const logs: string[] = [];
  const irq = { count: 0, trigger() { this.count++; } };
  const transport = new VirtioMmioTransport(device, mem, irq, (l) => logs.push(l));
  const drv = new VirtioTestDriver(transport, mem, { base: 0x1000, size: RAM - 0x1000 });
  return { mem, logs, irq, transport, drv };
}

t.test('identification registers', async (t) => {
  const { drv } = fixture(new VirtioRng());
  t.equal(drv.readReg(MmioReg.MAGIC_VALUE), 0x74726976);
  t.equal(drv.readReg(MmioReg.VERSION), 2);
  t.equal(drv.readReg(MmioReg.DEVICE_ID), VIRTIO_ID_RNG);
  t.equal(drv.readReg(MmioReg.VENDOR_ID), 0);
  t.equal(VirtioMmioTransport.NOTIFY_OFFSET, 0x50);
  t.equal(mmioCmdlineArg(0xd0000000, 0x1000, 5), 'virtio_mmio.device=4K@0xd0000000:5');
});

t.test('register accesses that are not 4 bytes wide and aligned are ignored', async (t) => {
  const { transport, drv } = fixture();
  const two = new Uint8Array(2).fill(0xaa);
  transport.read(MmioReg.MAGIC_VALUE, two);
  t.same(two, new Uint8Array(2), '2-byte read of MagicValue reads zeros');
  const eight = new Uint8Array(8).fill(0xaa);
  transport.read(MmioReg.MAGIC_VALUE, eight);
  t.same(eight, new Uint8Array(8), '8-byte read reads zeros');
  const unaligned = new Uint8Array(4);
  transport.read(MmioReg.MAGIC_VALUE + 1, unaligned);
  t.same(unaligned, new Uint8Array(4), 'unaligned read reads zeros');
  transport.write(MmioReg.STATUS, Uint8Array.of(A));
  t.equal(drv.status, 0, '1-byte status write ignored');
  drv.writeReg(MmioReg.MAGIC_VALUE, 0);
  t.equal(drv.readReg(MmioReg.MAGIC_VALUE), 0x74726976, 'read-only register ignores writes');
  t.equal(drv.readReg(0xf00), 0, 'unknown register reads zero');
});

t.test('device features are read in 32-bit words', async (t) => {
  const { drv } = fixture();
  t.equal(drv.deviceFeatures(), VIRTIO_F_VERSION_1 | VIRTIO_RING_F_INDIRECT_DESC | (1n << 3n));
  drv.writeReg(MmioReg.DEVICE_FEATURES_SEL, 2);
  t.equal(drv.readReg(MmioReg.DEVICE_FEATURES), 0, 'word 2 is zero');
});

t.test('feature negotiation and FEATURES_OK', async (t) => {
  const { drv, logs } = fixture();
  t.equal(drv.negotiate(VIRTIO_F_VERSION_1), VIRTIO_F_VERSION_1);
  t.equal(drv.status, A | D | F);

  drv.status = 0;
  drv.addStatus(A);
  drv.addStatus(D);
  drv.writeDriverFeatures(VIRTIO_F_VERSION_1 | (1n << 40n));
  drv.addStatus(F);
  t.equal(drv.status, A | D, 'an unoffered feature: FEATURES_OK is not set');
  t.match(logs.at(-1), /refusing FEATURES_OK.*unoffered 0x10000000000/);

  drv.writeDriverFeatures(1n << 3n);
  drv.addStatus(F);
  t.equal(drv.status, A | D, 'VERSION_1 missing: refused');
  t.match(logs.at(-1), /lack VERSION_1/);

  drv.writeDriverFeatures(VIRTIO_F_VERSION_1 | (1n << 3n));
  drv.addStatus(F);
  t.equal(drv.status, A | D | F, 'a valid subset is accepted');
  drv.writeDriverFeatures(VIRTIO_F_VERSION_1);
  t.match(logs.at(-1), /driver features written in status 0xb; ignored/);
});

t.test('status only moves forward one step at a time; FAILED is always accepted', async (t) => {
  const { drv, logs } = fixture();
  drv.status = OK;
  t.equal(drv.status, 0, 'DRIVER_OK from reset refused');
  t.match(logs.at(-1), /status 0x0 -> 0x4 is not a valid transition/);
  drv.status = A;
  drv.status = A | D | F;
  t.equal(drv.status, A, 'skipping DRIVER refused');
  drv.status = D;
  t.equal(drv.status, A, 'clearing a bit refused');
  drv.status = A | D | VIRTIO_STATUS_FAILED;
  t.equal(drv.status, A | VIRTIO_STATUS_FAILED, 'FAILED is recorded');
  drv.status = A | D | VIRTIO_STATUS_FAILED;
  t.equal(drv.status & D, 0, 'nothing more after FAILED');
});

t.test('queue setup, activation with ready queues, and notify', async (t) => {
  const probe = new ProbeDevice();
  const { drv, transport, logs } = fixture(probe);
  drv.writeReg(MmioReg.QUEUE_SEL, 0);
  drv.writeReg(MmioReg.QUEUE_NUM, 4);
  t.match(logs.at(-1), /queue register 0x38 written .* status 0x0; ignored/, 'queue registers locked before FEATURES_OK');
  t.same(drv.maxQueueSizes(), [16, 8]);
  const features = drv.negotiate();
  t.equal(features, probe.availableFeatures);
  const q0 = drv.setupQueue(0, 8);
  t.equal(drv.readReg(MmioReg.QUEUE_READY), 1);
  t.equal(transport.queues[0]!.size, 8);
  t.equal(transport.queues[0]!.descTable, q0.desc);
  t.equal(transport.queues[0]!.availRing, q0.avail);
  t.equal(transport.queues[0]!.usedRing, q0.used);
  drv.writeReg(MmioReg.QUEUE_SEL, 0);
  drv.writeReg(MmioReg.QUEUE_DESC_LOW, 0x5000);
  t.equal(transport.queues[0]!.descTable, q0.desc, 'address locked while ready');
  drv.writeReg(MmioReg.QUEUE_SEL, 7);
  t.equal(drv.readReg(MmioReg.QUEUE_NUM_MAX), 0, 'no queue 7');
  t.equal(drv.readReg(MmioReg.QUEUE_READY), 0);

  transport.notifyQueue(0);
  t.same(probe.notifies, [], 'no notify before DRIVER_OK');
  drv.driverOk();
  t.equal(drv.status, A | D | F | OK);
  t.equal(probe.activations.length, 1);
  const ctx = probe.activations[0]!;
  t.equal(ctx.queues.length, 2);
  t.equal(ctx.queues[0], transport.queues[0]);
  t.equal(ctx.queues[1], null, 'queue 1 was not set up');
  t.equal(ctx.ackedFeatures, features);
  t.equal(transport.queues[0]!.indirectEnabled, true);

  q0.kick();
  transport.notifyQueue(0);
  transport.notifyQueue(1);
  transport.notifyQueue(9);
  t.same(probe.notifies, [0, 0], 'not-ready and missing queues are not passed on');
  t.match(logs.at(-1), /notify for queue 9, device has 2/);

  drv.writeReg(MmioReg.QUEUE_SEL, 1);
  drv.writeReg(MmioReg.QUEUE_NUM, 4);
  t.match(logs.at(-1), /status 0xf; ignored/, 'queue registers locked after DRIVER_OK');
});

t.test('interrupt status, ack and the irq line', async (t) => {
  const { drv, irq } = fixture(new VirtioRng());
  const [q] = drv.init();
  q!.addChain([{ writable: 16 }]);
  q!.kick();
  t.equal(irq.count, 1);
  t.equal(drv.interruptStatus(), MMIO_INT_VRING);
  drv.ackInterrupt(MMIO_INT_VRING);
  t.equal(drv.interruptStatus(), 0);
});

t.test('config space: 1, 2 and 4-byte accesses, other widths ignored, generation', async (t) => {
  const probe = new ProbeDevice();
  const { drv, transport } = fixture(probe);
  t.equal(drv.readConfig(0, 4), 0x44332211);
  t.equal(drv.readConfig(1, 2), 0x3322);
  t.equal(drv.readConfig(7, 1), 0x88);
  t.equal(drv.readConfigU64(0), 0x8877665544332211n);
  const eight = new Uint8Array(8).fill(0xaa);
  transport.read(MmioReg.CONFIG, eight);
  t.same(eight, new Uint8Array(8), '8-byte config read ignored');
  transport.write(MmioReg.CONFIG, Uint8Array.of(0xee));
  t.equal(probe.config[0], 0xee, 'byte config write passed to the device');
  transport.write(MmioReg.CONFIG, new Uint8Array(8));
  t.equal(probe.config[0], 0xee, '8-byte config write ignored');
  t.equal(drv.readReg(MmioReg.CONFIG_GENERATION), 0);
});

t.test('reset: status 0 resets the device, queues, features and interrupts', async (t) => {
  const probe = new ProbeDevice();
  const { drv, transport, logs } = fixture(probe);
  drv.init({ queueSizes: [16] });
  t.equal(probe.resets, 0);
  drv.status = 0;
  t.equal(probe.resets, 1);
  drv.writeReg(MmioReg.QUEUE_SEL, 0);
  drv.writeReg(MmioReg.QUEUE_READY, 0);
  t.same(logs, [], 'clearing QueueReady after reset (Linux vm_del_vq) is a quiet no-op');
  t.equal(drv.status, 0);
  t.equal(transport.queues[0]!.ready, false);
  t.equal(transport.queues[0]!.size, 16);
  drv.writeReg(MmioReg.QUEUE_SEL, 0);
  t.equal(drv.readReg(MmioReg.QUEUE_READY), 0);
  transport.notifyQueue(0);
  t.same(probe.notifies, [], 'notifies ignored after reset');
  drv.init({ queueSizes: [16, 8] });
  t.equal(probe.activations.length, 2, 're-initialises');
  t.equal(probe.activations[1]!.queues[1], transport.queues[1]);
});

t.test('an invalid queue at DRIVER_OK marks the device as needing reset', async (t) => {
  const probe = new ProbeDevice();
  const { drv, logs, irq } = fixture(probe);
  drv.negotiate();
  drv.setupQueue(0, 6); // not a power of two
  drv.driverOk();
  t.equal(probe.activations.length, 0, 'not activated');
  t.ok(drv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  t.equal(drv.interruptStatus(), MMIO_INT_CONFIG);
  t.equal(irq.count, 1);
  t.equal(drv.readReg(MmioReg.CONFIG_GENERATION), 1);
  t.match(logs.at(-1), /virtio-device-42: activation: queue 0: queue size 6 is not a power of two.*needs reset/);
  drv.init();
  t.equal(probe.activations.length, 1, 'a reset and a correct setup recover');
  t.equal(drv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
});

t.test('a device whose activate throws is marked broken, not crashed', async (t) => {
  const probe = new ProbeDevice();
  probe.activate = () => { throw new Error('no backend'); };
  const { drv, logs } = fixture(probe);
  t.doesNotThrow(() => drv.init());
  t.ok(drv.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  t.match(logs.at(-1), /activation failed: no backend/);
});
