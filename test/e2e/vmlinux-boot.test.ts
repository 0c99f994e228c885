// e2e: the ELF vmlinux extracted from the Debian bzImage boots through the 64-bit entry with 2 vCPUs.
import t from 'tap';
import fs from 'node:fs';
import { prepareGuest } from '../../images/guest-bundle.js';
import { QvmmProcess } from '../helpers/qvmm-process.js';

t.test('ELF vmlinux with 2 vCPUs reaches init and powers off', async (t) => {
  const guest = await prepareGuest('echo "CPUS=$(grep -c ^processor /proc/cpuinfo)"\n', { tmpRoot: '/tmp' });
  t.teardown(() => fs.rmSync(guest.dir, { recursive: true, force: true }));
  const vm = new QvmmProcess([
    'run', '--kernel', guest.kernel.vmlinux, '--initrd', guest.initrd,
    '--append', 'console=ttyS0 reboot=k panic=-1 quiet', '--memory', '256', '--vcpus', '2',
  ]);
  t.teardown(() => vm.kill());
  await vm.waitFor(/KQUBES-INIT-READY/, 240_000);
  t.equal((await vm.waitFor(/CPUS=(\d+)\r?\n/, 60_000))[1], '2', 'the guest sees 2 CPUs');
  t.equal((await vm.waitFor(/KQUBES-INIT-DONE rc=(\d+)\r?\n/, 60_000))[1], '0', 'init ran to the end');
  t.equal((await vm.exited).code, 0, `qvmm exited 0 (stderr: ${vm.stderr.trim().slice(-300)})`);
});
