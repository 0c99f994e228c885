// The kvm tier runs where /dev/kvm is real: here it must open read-write and the CPU must show vmx or svm.
import t from 'tap';
import fs from 'node:fs';
import { hasUsableKvm } from '../harness/kvm-host.js';

t.test('/dev/kvm opens for read and write', async (t) => {
  const fd = fs.openSync('/dev/kvm', 'r+');
  t.ok(fd >= 0);
  fs.closeSync(fd);
});

t.test('the harness sees a usable KVM (vmx or svm in /proc/cpuinfo)', async (t) => {
  t.equal(hasUsableKvm(), true);
});
