// The plugin's process: wires the real process, kernel and disk into the skel. Started by the one
// executable's entry (bin/bridgeway.ts) when it runs as the plugin.
import fs from 'node:fs';
import { createSyncRunner } from '../lib/exec.ts';
import { iproute2Kernel } from '../lib/iproute2/kernel.ts';
import type { Kernel } from '../lib/kernel/kernel.ts';
import { netlinkKernel } from '../lib/netlink/kernel.ts';
import { loadLibc, NETLINK_NETFILTER, NETLINK_ROUTE, NetlinkSocket, runInNetns } from '../lib/netlink/socket.ts';
import { createLogger } from '../lib/log.ts';
import { networkDir, openStore } from '../ipam/index.ts';
import { cmdAdd } from './commands/add.ts';
import { cmdCheck } from './commands/check.ts';
import { cmdDel } from './commands/del.ts';
import { cmdGc } from './commands/gc.ts';
import { cmdStatus } from './commands/status.ts';
import { runPlugin } from './skel.ts';
import { byMode } from './macvlan/dispatch.ts';

function readStdin(): string {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    return ''; // no stdin (e.g. VERSION run by hand from a terminal that was closed)
  }
}

/**
 * VERSION run by hand from a terminal must not wait for input. A character device is a terminal
 * (or /dev/null, which reads as empty anyway). Not node:tty: on Bun it loads the stream and net
 * modules, ~5 ms of CPU at every plugin start; not process.stdin.isTTY, which builds a stream.
 */
function stdinIsDevice(): boolean {
  try {
    return fs.fstatSync(0).isCharacterDevice();
  } catch {
    return false;
  }
}

// Synchronous spawns: cheaper on Bun, and the plugin waits for each child anyway (lib/exec.ts).
const run = createSyncRunner();
// rtnetlink in-process where the runtime offers it (the Bun executable: no `ip` processes, most
// of the plugin's CPU per ADD before); iproute2 processes otherwise (the bundle run by Node).
// libc is loaded once, and only by a command that needs it (VERSION does not).
let libcLoaded: ReturnType<typeof loadLibc> | null = null;
function libcOnce(): ReturnType<typeof loadLibc> {
  if (libcLoaded === null) libcLoaded = loadLibc();
  return libcLoaded;
}

function createKernel(): Kernel {
  const libc = libcOnce();
  if (!libc) return iproute2Kernel(run);
  return netlinkKernel((netns) => NetlinkSocket.open(libc, NETLINK_ROUTE, netns), {
    runInNetns: (netns, action) => runInNetns(libc, netns, action),
    // nf_tables for the anti-spoofing table, opened only by a batch that changes it.
    openNetfilter: (netns) => NetlinkSocket.open(libc, NETLINK_NETFILTER, netns),
  });
}

/** Macvlan mode's commands: a chunk of their own, loaded by a network in that mode only. */
async function macvlanCommands() {
  return (await import('./macvlan/commands.ts')).macvlanCommands({ libc: libcOnce });
}

/** An Open vSwitch bridge's commands: a chunk of their own, loaded by a network of that bridge type only. */
async function ovsCommands() {
  return (await import('./ovs/commands.ts')).ovsCommands({ libc: libcOnce, run });
}

/** Runs the plugin on this process's environment, stdin and stdout, and exits with its code. */
export function runPluginProcess(): void {
  void runPlugin(
    {
      env: process.env,
      stdin: process.env.CNI_COMMAND === 'VERSION' && stdinIsDevice() ? '' : readStdin(),
      stdout: (text) => fs.writeSync(1, text + '\n'),
    },
    {
      run,
      createKernel,
      commands: byMode({ ADD: cmdAdd, DEL: cmdDel, CHECK: cmdCheck, STATUS: cmdStatus, GC: cmdGc }, macvlanCommands, ovsCommands),
      createLogger: (conf) => createLogger({ level: conf.logLevel, file: conf.logFile, base: { network: conf.name } }),
      createStore: (conf, family) => openStore(networkDir(conf.dataDir, conf.name), family),
    },
  ).then((exitCode) => {
    // Everything is written synchronously by now; exiting at once saves Node's teardown (~5 ms).
    process.exit(exitCode);
  });
}
