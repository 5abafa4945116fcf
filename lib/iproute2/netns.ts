// Network namespaces are addressed by path (/var/run/netns/x, /proc/<pid>/ns/net) everywhere:
// that is what runtimes hand us, and `ip -n` would accept only names.
import fs from 'node:fs';
import { errnoCode } from '../errors.ts';

/** statfs(2) f_type of nsfs, the filesystem behind every namespace file. */
const NSFS_MAGIC = 0x6e736673;

/** Prefixes argv with nsenter into the namespace at netnsPath (or returns argv unchanged). */
export function inNetns(netnsPath: string | undefined, argv: readonly string[]): string[] {
  return netnsPath ? ['nsenter', `--net=${netnsPath}`, '--', ...argv] : [...argv];
}

export type NetnsCheck = { ok: true } | { ok: false; reason: 'missing' | 'not-a-netns'; detail: string };

/** Is the path a namespace file? (A plain file or a dead bind-mount point is not.) */
export function checkNetnsPath(netnsPath: string): NetnsCheck {
  try {
    const stats = fs.statfsSync(netnsPath);
    if (stats.type === NSFS_MAGIC) return { ok: true };
    return { ok: false, reason: 'not-a-netns', detail: `${netnsPath} is not a network namespace (filesystem type 0x${stats.type.toString(16)})` };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { ok: false, reason: 'missing', detail: `${netnsPath} does not exist` };
    return { ok: false, reason: 'not-a-netns', detail: `cannot inspect ${netnsPath}: ${(error as Error).message}` };
  }
}
