// Temporary files that killed writers left in the disk store. A writer names its temp file
// "<file>.<pid>.tmp" and links (ips/) or renames (attachments/, last_reserved_ip) it into place;
// a plugin SIGKILLed in between (a runtime's timeout, the OOM killer) leaves it behind. Readers
// skip *.tmp, so it is no reservation, but nothing else would ever remove it. GC sweeps those
// whose writer is gone; a live writer, or a pid we may not signal, keeps its file.
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, errorMessage } from '../lib/errors.ts';
import { IpamStoreError } from './errors.ts';

/** Removes dead writers' temp files in the given directories (missing ones are fine); returns how many. */
export function sweepDeadWritersTemps(dirs: readonly string[]): number {
  let removed = 0;
  for (const dir of dirs) {
    for (const name of temporaries(dir)) {
      const writer = Number(/\.(\d+)\.tmp$/.exec(name)?.[1]);
      if (!writer || processAlive(writer)) continue;
      const file = path.join(dir, name);
      try {
        fs.rmSync(file, { force: true });
      } catch (error) {
        throw new IpamStoreError(`IPAM store: cannot remove ${file}: ${errorMessage(error)}`);
      }
      removed++;
    }
  }
  return removed;
}

function temporaries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw new IpamStoreError(`IPAM store: cannot list ${dir}: ${errorMessage(error)}`);
  }
}

/** Only ESRCH says the writer is gone (EPERM: alive, someone else's). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== 'ESRCH';
  }
}
