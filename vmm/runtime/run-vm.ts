// Runs one VM to its end in this process: build it, wire the console and signals, serve the control
// API, and turn how the VM ended into the process's exit code.
import { buildVm } from '../builder/build-vm.js';
import { startControlServer } from '../api/control-server.js';
import type { VmConfig } from '../config/vm-config.js';

function logLine(line: string): void {
  process.stderr.write(`qvmm: ${line}\n`);
}

/** Boots the VM described by `config`; resolves with the exit code (0 = guest reboot/poweroff or host stop). */
export async function runVm(config: VmConfig): Promise<number> {
  const vm = await buildVm(config, { log: logLine, stdio: config.console === 'stdio' });
  if (config.apiSocket !== undefined) {
    const server = await startControlServer(config.apiSocket, vm);
    vm.own(server);
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    logLine(`${sig}: stopping the VM`);
    void vm.end({ code: 0, reason: `stopped by ${sig}` });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await vm.start();
  const exit = await vm.exited;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  logLine(exit.code === 0 ? `VM ended: ${exit.reason}` : `error: ${exit.reason}`);
  return exit.code;
}
