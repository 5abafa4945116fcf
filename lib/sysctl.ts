// Sysctls as files under /proc/sys, by key (`net/ipv6/conf/eth0/accept_ra`: the path, so an
// interface name with dots, eth0.100, needs no escaping). /proc/sys/net shows the network
// namespace of the thread that opens the file, so a caller that wants a pod's values opens it from
// inside the pod's namespace (lib/netlink/socket.ts, runInNetns) or in a process started there.
import fs from 'node:fs';
import path from 'node:path';
import { errnoCode } from './errors.ts';

/** The file of a key under procSys; a key that could leave /proc/sys is refused. */
export function sysctlPath(procSys: string, key: string): string {
  const parts = key.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..' || /[\0\n]/.test(part))) {
    throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
  }
  return path.join(procSys, ...parts);
}

/** Writes the value (fs errors pass through: ENOENT for a key the kernel does not have). */
export function writeSysctl(procSys: string, key: string, value: string): void {
  fs.writeFileSync(sysctlPath(procSys, key), `${value}\n`);
}

/** The value, or undefined when the kernel has no such key. */
export function readSysctl(procSys: string, key: string): string | undefined {
  try {
    return fs.readFileSync(sysctlPath(procSys, key), 'utf8').trim();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}
