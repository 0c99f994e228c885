// e2e: the stock Debian bzImage boots in qvmm with 2 vCPUs and uses every device: virtio-blk (ext4 image),
// virtio-rng, virtio-vsock both ways (socat in the guest as the real peer), then powers off so qvmm exits 0.
// One boot serves all checks (boots inside the emulated KVM host cost tens of seconds).
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { makeExt4Image, prepareGuest } from '../../images/guest-bundle.js';
import { QvmmProcess } from '../helpers/qvmm-process.js';

const BOOT_TIMEOUT = 240_000;
const HOST_PORT = 5000;
const GUEST_PORT = 1234;
const STREAM_BYTES = 256 * 1024;

const GUEST_SCRIPT = `
echo "CPUS=$(grep -c ^processor /proc/cpuinfo)"
mkdir -p /mnt && mount -t ext4 -o ro /dev/vda /mnt && echo "DISK=$(cat /mnt/hello.txt)"
echo "RNG=$(head -c 32 /dev/hwrng | od -An -tx1 | tr -d ' \\n')"
socat VSOCK-LISTEN:${GUEST_PORT} EXEC:'tr a-z A-Z' &
lp=$!
sleep 1
echo VSOCK-LISTENING
echo "VSOCK-REPLY=$(echo ping-from-guest | socat -t 5 - VSOCK-CONNECT:2:${HOST_PORT})"
wait $lp
echo "VSOCK-LISTENER-DONE rc=$?"
`;

/** Connects to the vsock's Unix socket, asks for the guest port, streams `data` and collects the answer. */
function hostToGuest(uds: string, port: number, data: Buffer): Promise<{ okLine: string; reply: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(uds);
    let buf = Buffer.alloc(0);
    let okLine: string | undefined;
    const chunks: Buffer[] = [];
    s.on('connect', () => s.write(`CONNECT ${port}\n`));
    s.on('data', (c: Buffer) => {
      if (okLine === undefined) {
        buf = Buffer.concat([buf, c]);
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        okLine = buf.subarray(0, nl).toString();
        const rest = buf.subarray(nl + 1);
        if (rest.length) chunks.push(rest);
        s.end(data);
      } else {
        chunks.push(c);
      }
    });
    s.on('error', reject);
    s.on('close', () => (okLine === undefined ? reject(new Error('closed before OK')) : resolve({ okLine, reply: Buffer.concat(chunks) })));
  });
}

t.test('bzImage with 2 vCPUs: blk, rng, vsock both ways, poweroff', async (t) => {
  const guest = await prepareGuest(GUEST_SCRIPT, { tmpRoot: '/tmp' });
  t.teardown(() => fs.rmSync(guest.dir, { recursive: true, force: true }));
  const disk = path.join(guest.dir, 'disk.ext4');
  makeExt4Image(disk, { 'hello.txt': 'hello-from-ext4\n' });
  const uds = path.join(guest.dir, 'v.sock');

  // The guest-initiated connection lands on uds_5000: answer "pong:" + what the guest sent.
  const guestConnections: string[] = [];
  const server = net.createServer((c) => {
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.on('end', () => {
      guestConnections.push(got);
      c.end(`pong:${got.trim()}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(`${uds}_${HOST_PORT}`, r));
  t.teardown(() => server.close());

  const vm = new QvmmProcess([
    'run', '--kernel', guest.kernel.vmlinuz, '--initrd', guest.initrd,
    '--append', 'console=ttyS0 reboot=k panic=-1 quiet',
    '--memory', '256', '--vcpus', '2', '--disk', `${disk},ro`,
    '--vsock-cid', '3', '--vsock-uds', uds,
  ]);
  t.teardown(() => vm.kill());

  await vm.waitFor(/KQUBES-INIT-READY/, BOOT_TIMEOUT);
  t.match((await vm.waitFor(/CPUS=(\d+)\r?\n/, 60_000))[1], '2', 'the guest sees 2 CPUs');
  t.equal((await vm.waitFor(/DISK=(\S+)\r?\n/, 60_000))[1], 'hello-from-ext4', 'a file read from the virtio-blk ext4 disk');
  const rng = (await vm.waitFor(/RNG=([0-9a-f]*)\r?\n/, 60_000))[1]!;
  t.equal(rng.length, 64, '32 bytes read from /dev/hwrng');
  t.not(rng, '0'.repeat(64), 'hwrng bytes are not all zero');

  await vm.waitFor(/VSOCK-LISTENING/, 60_000);
  const payload = Buffer.from(crypto.randomBytes(STREAM_BYTES / 2).toString('hex'));
  const { okLine, reply } = await hostToGuest(uds, GUEST_PORT, payload);
  t.match(okLine, /^OK \d+$/, 'host-initiated CONNECT answered with OK <port>');
  t.equal(reply.length, payload.length, `all ${payload.length} bytes came back through the guest`);
  t.ok(reply.equals(Buffer.from(payload.toString().toUpperCase())), 'the guest transformed the stream (tr a-z A-Z) byte for byte');

  t.equal((await vm.waitFor(/VSOCK-REPLY=(\S*)\r?\n/, 60_000))[1], 'pong:ping-from-guest', 'guest-initiated connection to CID 2 reached <uds>_5000 and got the reply');
  t.same(guestConnections, ['ping-from-guest\n'], 'the host listener saw the guest data');

  t.match((await vm.waitFor(/KQUBES-INIT-DONE rc=(\d+)\r?\n/, 60_000))[1], '0', 'the guest script succeeded');
  const exit = await vm.exited;
  t.equal(exit.code, 0, `qvmm exited 0 after the guest powered off (stderr: ${vm.stderr.trim().slice(-300)})`);
});
