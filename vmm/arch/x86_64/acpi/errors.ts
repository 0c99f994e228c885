// AcpiError: why the ACPI tables could not be built or placed in guest memory.
export class AcpiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AcpiError';
  }
}
