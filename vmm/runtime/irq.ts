// Interrupt lines from devices to the in-kernel irqchip, each an eventfd registered with KVM_IRQFD.
import { native } from '../../kvm-native/index.js';

import { EFD_CLOEXEC, EFD_NONBLOCK } from '../kvm/constants.js';

/** An edge-triggered GSI: writing the eventfd makes KVM inject the interrupt without leaving the kernel. */
export class IrqLine {
  readonly fd: number;
  constructor(vmFd: number, readonly gsi: number) {
    this.fd = native.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    native.vmIrqfd(vmFd, this.fd, gsi, 0);
  }
  trigger(): void {
    native.eventfdWrite(this.fd, 1n);
  }
}
