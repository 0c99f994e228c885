// The main thread's handle on one vCPU worker: starts it, serves its PIO/MMIO accesses from the buses,
// and parks, resumes or stops it (kicking it out of KVM_RUN with immediate_exit and a signal).
import { Worker } from 'node:worker_threads';
import { native } from '../../kvm-native/index.js';
import type { Bus } from '../bus/bus.js';
import { KvmRun } from '../kvm/run.js';
import { MAP_SHARED, PROT_READ, PROT_WRITE } from '../kvm/constants.js';
import { SLOT, createExitChannel, type ExitChannel, type VcpuMessage, type VcpuWorkerData } from './exit-channel.js';
import { ACCESS, ExitRing } from './exit-ring.js';

/** SIGRTMIN + 5 kicks a vCPU thread out of KVM_RUN (glibc keeps the first real-time signals for itself). */
const KICK_SIGNAL_OFFSET = 5;
let kickSignal = 0;

/** The signal that kicks vCPU threads, its no-op handler (no SA_RESTART) installed once per process. */
export function vcpuKickSignal(): number {
  if (kickSignal === 0) {
    kickSignal = native.sigrtmin() + KICK_SIGNAL_OFFSET;
    native.installNoopSignalHandler(kickSignal);
  }
  return kickSignal;
}

export interface VcpuThreadOptions {
  readonly vcpuId: number;
  readonly vcpuFd: number;
  readonly runMmapSize: number;
  readonly kickSignal: number;
  readonly pio: Bus;
  readonly mmio: Bus;
  /** the guest ended the VM (reset, poweroff, triple fault) */
  readonly onGuestStop: (reason: string) => void;
  /** KVM could not go on with this vCPU */
  readonly onError: (message: string) => void;
  readonly log: (line: string) => void;
  /** the VM's exit ring, shared by all its vCPUs so that their accesses are served in the order issued */
  readonly ring?: ExitRing;
}

export class VcpuThread {
  private readonly channel: ExitChannel;
  private readonly run: KvmRun;
  private tid = 0;
  private parkedWaiters: (() => void)[] = [];
  private exited: Promise<void> | undefined;
  private unhandledLogged = 0;
  private readonly ring: ExitRing;

  constructor(private readonly opts: VcpuThreadOptions) {
    this.channel = createExitChannel();
    this.ring = opts.ring ?? new ExitRing();
    // The main thread's own mapping of this vCPU's kvm_run: used to set immediate_exit when kicking.
    this.run = new KvmRun(native.mmap(opts.runMmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, opts.vcpuFd, 0n));
  }

  get id(): number {
    return this.opts.vcpuId;
  }

  /** Starts the worker; resolves once it runs (and can be kicked). */
  start(): Promise<void> {
    const wd: VcpuWorkerData = {
      vcpuId: this.opts.vcpuId,
      vcpuFd: this.opts.vcpuFd,
      runMmapSize: this.opts.runMmapSize,
      kickSignal: this.opts.kickSignal,
      channel: this.channel.sab,
      ring: this.ring.sab,
      pioRanges: this.opts.pio.entries().map((e) => [e.base, e.len] as const),
    };
    // execArgv []: the worker needs none of the parent's loader hooks (`--import`, as test runners add); inherited,
    // they are re-run in every worker and cost seconds per vCPU (tens of seconds in an emulated KVM host).
    const worker = new Worker(new URL('./vcpu-worker.js', import.meta.url), { workerData: wd, stdout: false, stderr: false, execArgv: [] });
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      worker.once('error', (e) => {
        this.opts.onError(`vCPU ${this.opts.vcpuId} worker failed: ${e.message}`);
        reject(e);
      });
      worker.on('message', (msg: VcpuMessage) => {
        if (msg.type === 'started') {
          this.tid = msg.tid;
          resolve();
        } else {
          this.onMessage(msg);
        }
      });
    });
  }

  private onMessage(msg: VcpuMessage): void {
    switch (msg.type) {
      case 'doorbell':
        this.ring.drain(this.serve);
        break;
      case 'parked': {
        const waiters = this.parkedWaiters;
        this.parkedWaiters = [];
        for (const w of waiters) w();
        break;
      }
      case 'guest-stop':
        this.opts.onGuestStop(msg.reason);
        break;
      case 'error':
        this.opts.onError(`vCPU ${msg.vcpuId}: ${msg.message}`);
        break;
      case 'started':
      case 'stopped':
        break;
    }
  }

  /** One access against the buses. A device must never take the VMM down: errors are logged. */
  private readonly serve = (access: number, addr: number, bytes: Uint8Array): void => {
    let handled: boolean;
    try {
      switch (access) {
        case ACCESS.PIO_READ:
          handled = this.opts.pio.read(addr, bytes);
          if (!handled) bytes.fill(0xff);
          break;
        case ACCESS.PIO_WRITE:
          handled = this.opts.pio.write(addr, bytes);
          break;
        case ACCESS.MMIO_READ:
          handled = this.opts.mmio.read(addr, bytes);
          if (!handled) bytes.fill(0);
          break;
        default:
          handled = this.opts.mmio.write(addr, bytes);
          break;
      }
    } catch (e) {
      handled = true;
      this.opts.log(`device error at ${access <= ACCESS.PIO_WRITE ? 'port' : 'address'} 0x${addr.toString(16)}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!handled && access >= ACCESS.MMIO_READ && this.unhandledLogged < 16) {
      this.unhandledLogged++;
      this.opts.log(`MMIO access to unmapped address 0x${addr.toString(16)} ignored`);
    }
  };

  private kick(): void {
    this.run.immediateExit = 1;
    if (this.tid > 0) {
      try {
        native.tgkill(this.tid, this.opts.kickSignal);
      } catch {
        // the thread already ended
      }
    }
  }

  /** Parks the vCPU outside KVM_RUN; resolves once it is parked. */
  pause(): Promise<void> {
    const { ctl } = this.channel;
    if (Atomics.load(ctl, SLOT.PARKED) === 1) return Promise.resolve();
    const parked = new Promise<void>((resolve) => this.parkedWaiters.push(resolve));
    Atomics.store(ctl, SLOT.PAUSE, 1);
    this.kick();
    return parked;
  }

  resume(): void {
    const { ctl } = this.channel;
    Atomics.store(ctl, SLOT.PAUSE, 0);
    Atomics.notify(ctl, SLOT.PAUSE);
  }

  /** Ends the worker thread; resolves when it has exited. */
  async stop(): Promise<void> {
    const { ctl } = this.channel;
    Atomics.store(ctl, SLOT.STOP, 1);
    Atomics.notify(ctl, SLOT.PAUSE);
    this.kick();
    // A worker blocked in the mailbox gets its answer from the message handler; nothing else to do.
    await this.exited;
  }
}
