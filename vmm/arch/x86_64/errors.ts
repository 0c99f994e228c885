// BootError: why a Linux guest could not be set up for boot (bad kernel, too little memory, oversized inputs).
export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}
