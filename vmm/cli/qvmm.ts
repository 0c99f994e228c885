// `qvmm`: the VMM's command line. Parses arguments into a VmConfig and hands it to the library.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError, parseDriveArg, validateVmConfig, type VmConfig } from '../config/vm-config.js';
import { runVm } from '../runtime/run-vm.js';
import { BootError } from '../arch/x86_64/boot.js';

function fail(message: string, code = 1): never {
  process.stderr.write(`qvmm: error: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('qvmm')
    .usage('$0 <command> [options]\n\nThe kqubes VMM: one process per VM, on /dev/kvm.')
    .command(
      'run',
      'boot a Linux kernel in a new VM; the serial console is on stdin/stdout; exits 0 when the guest reboots or powers off',
      (y) =>
        y
          .option('name', { type: 'string', default: 'vm', describe: 'name of the VM (shown by the control API)' })
          .option('kernel', { type: 'string', demandOption: true, describe: 'kernel: ELF vmlinux or bzImage' })
          .option('initrd', { type: 'string', describe: 'initial ramdisk (cpio, may be compressed)' })
          .option('append', { type: 'string', default: 'console=ttyS0 reboot=k panic=-1', describe: 'kernel command line' })
          .option('memory', { type: 'number', default: 256, describe: 'guest RAM in MiB' })
          .option('vcpus', { type: 'number', default: 1, describe: 'number of vCPUs' })
          .option('disk', { type: 'string', array: true, default: [] as string[], describe: 'virtio-blk disk PATH[,ro] (repeatable)' })
          .option('vsock-cid', { type: 'number', describe: 'guest CID of a virtio-vsock device (>= 3)' })
          .option('vsock-uds', { type: 'string', describe: 'Unix socket bridging the vsock device (host connects here; guest connects reach PATH_PORT)' })
          .option('api-sock', { type: 'string', describe: 'control API socket (JSON lines: describe, pause, resume, stop)' })
          .option('no-console', { type: 'boolean', default: false, describe: 'discard the serial console instead of using stdio' })
          .strictOptions(),
      async (argv) => {
        if ((argv['vsock-cid'] === undefined) !== (argv['vsock-uds'] === undefined)) fail('--vsock-cid and --vsock-uds go together', 2);
        let config: VmConfig;
        try {
          config = validateVmConfig({
            name: argv.name,
            kernelPath: argv.kernel,
            ...(argv.initrd !== undefined ? { initrdPath: argv.initrd } : {}),
            cmdline: argv.append,
            memoryMiB: argv.memory,
            vcpus: argv.vcpus,
            drives: argv.disk.map(parseDriveArg),
            ...(argv['vsock-cid'] !== undefined && argv['vsock-uds'] !== undefined ? { vsock: { guestCid: argv['vsock-cid'], udsPath: argv['vsock-uds'] } } : {}),
            ...(argv['api-sock'] !== undefined ? { apiSocket: argv['api-sock'] } : {}),
            console: argv['no-console'] ? 'none' : 'stdio',
          });
        } catch (e) {
          if (e instanceof ConfigError) fail(e.message, 2);
          throw e;
        }
        let code: number;
        try {
          code = await runVm(config);
        } catch (e) {
          // A kernel, initrd or memory size the boot code rejects is bad input, like a bad flag.
          if (e instanceof BootError) fail(e.message, 2);
          throw e;
        }
        process.exit(code);
      },
    )
    .demandCommand(1, 'name a command: qvmm run --help')
    .strict()
    .help()
    .fail((msg, err) => {
      if (err) fail(err.message);
      fail(msg, 2);
    })
    .parseAsync();
}

main().catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));
