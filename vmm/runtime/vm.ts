// A running VM: its vCPU threads, devices and lifecycle (run, pause, resume, stop), and the
// VmController the control API serves.
import type { VmController } from '../api/control-server.js';
import { CONTROL_API_VERSION, type DeviceDescription, type VmDescription } from '../api/protocol.js';
import type { VcpuThread } from '../vcpu/vcpu-thread.js';
import type { VmConfig } from '../config/vm-config.js';

export type VmState = 'running' | 'paused' | 'stopping';

/** How the VM ended: code 0 when the guest rebooted or powered off. */
export interface VmExit {
  readonly code: number;
  readonly reason: string;
}

/** A host resource the VM releases when it stops (sockets, files, servers). */
export interface Closable {
  close(): void | Promise<void>;
}


export class Vm implements VmController {
  private state: VmState = 'running';
  private readonly vcpus: VcpuThread[] = [];
  private readonly closables: Closable[] = [];
  private resolveExit!: (e: VmExit) => void;
  readonly exited: Promise<VmExit>;
  private stopping: Promise<void> | undefined;
  /** resolves once every vCPU thread has ended (set by end()) */
  private vcpusStopped: Promise<void> | undefined;

  constructor(
    readonly config: VmConfig,
    private readonly devices: readonly DeviceDescription[],
    private readonly log: (line: string) => void,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  addVcpu(v: VcpuThread): void {
    this.vcpus.push(v);
  }

  /** Registers something to release at stop (in reverse order of registration). */
  own(c: Closable): void {
    this.closables.push(c);
  }

  private startedAt = 0;

  async start(): Promise<void> {
    await Promise.all(this.vcpus.map((v) => v.start()));
    this.startedAt = Date.now();
  }

  describe(): VmDescription {
    return {
      apiVersion: CONTROL_API_VERSION,
      name: this.config.name,
      state: this.state,
      pid: process.pid,
      vcpus: this.config.vcpus,
      memoryMiB: this.config.memoryMiB,
      uptimeMs: this.startedAt === 0 ? 0 : Date.now() - this.startedAt,
      devices: this.devices.map((d) => ({ ...d })),
    };
  }

  async pause(): Promise<void> {
    if (this.state === 'stopping') throw new Error('the VM is stopping');
    if (this.state === 'paused') return;
    await Promise.all(this.vcpus.map((v) => v.pause()));
    this.state = 'paused';
  }

  async resume(): Promise<void> {
    if (this.state === 'stopping') throw new Error('the VM is stopping');
    for (const v of this.vcpus) v.resume();
    this.state = 'running';
  }

  /**
   * Stops the VM as asked by the host (control API or signal): exit code 0. Resolves once every vCPU thread has
   * ended; the owned host resources are released just after (`exited` resolves then), so that the answer to a
   * control-API `stop` is written before the control server that carries it closes.
   */
  async stop(): Promise<void> {
    void this.end({ code: 0, reason: 'stopped by the host' });
    await this.vcpusStopped;
  }

  /** Ends the VM once, whoever asks first (guest, host, error). */
  end(exit: VmExit): Promise<void> {
    if (this.stopping) return this.stopping;
    this.state = 'stopping';
    this.vcpusStopped = Promise.all(this.vcpus.map((v) => v.stop())).then(() => undefined);
    this.stopping = (async () => {
      await this.vcpusStopped;
      // A later turn of the event loop: whoever awaited stop() (the control server answering `stop`) has
      // written its answer by then, before the closables (that server among them) go away.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const c of [...this.closables].reverse()) {
        try {
          await c.close();
        } catch (e) {
          this.log(`while stopping: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      this.resolveExit(exit);
    })();
    return this.stopping;
  }
}
