// The executable's entry point: wires the real process, kernel and disk into the skel.
import fs from 'node:fs';
import tty from 'node:tty';
import path from 'node:path';
import { createRunner } from '../lib/exec.ts';
import { createLogger } from '../lib/log.ts';
import { DiskStore } from '../ipam/disk-store.ts';
import { cmdAdd } from './commands/add.ts';
import { cmdCheck } from './commands/check.ts';
import { cmdDel } from './commands/del.ts';
import { cmdGc } from './commands/gc.ts';
import { cmdStatus } from './commands/status.ts';
import { runPlugin } from './skel.ts';

function readStdin(): string {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch {
    return ''; // no stdin (e.g. VERSION run by hand from a terminal that was closed)
  }
}

// No top-level await: the bundle is CommonJS (what Node's single-executable support runs).
void runPlugin(
  {
    env: process.env,
    // tty.isatty rather than process.stdin.isTTY, which builds a whole stream (~3 ms).
    stdin: process.env.CNI_COMMAND === 'VERSION' && tty.isatty(0) ? '' : readStdin(),
    stdout: (text) => fs.writeSync(1, text + '\n'),
  },
  {
    run: createRunner(),
    commands: { ADD: cmdAdd, DEL: cmdDel, CHECK: cmdCheck, STATUS: cmdStatus, GC: cmdGc },
    createLogger: (conf) => createLogger({ level: conf.logLevel, file: conf.logFile, base: { network: conf.name } }),
    createStore: (conf, family) => new DiskStore(path.join(conf.dataDir, conf.name), family),
  },
).then((exitCode) => {
  // Everything is written synchronously by now; exiting at once saves Node's teardown (~5 ms).
  process.exit(exitCode);
});
