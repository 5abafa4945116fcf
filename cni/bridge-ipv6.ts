// The bridge carries the pods' IPv6 gateway, so it is a router's interface: it must never
// configure itself from a router advertisement (a rogue RA from a pod would otherwise give the
// node a default route or an address on the pod network). accept_ra is a sysctl with no iproute2
// option, and writing /proc/sys costs no process on ADD's hot path. /proc/sys/net shows the
// network namespace of the process, the node's, where the plugin runs.
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../lib/errors.ts';
import { CniError, ErrorCode } from './errors.ts';

function acceptRaPath(procSys: string, bridge: string): string {
  return path.join(procSys, 'net/ipv6/conf', bridge, 'accept_ra');
}

/** Sets accept_ra=0 on the bridge unless it is already: a write only when it changes. */
export function refuseRouterAdvertisements(procSys: string, bridge: string): void {
  const file = acceptRaPath(procSys, bridge);
  try {
    if (fs.readFileSync(file, 'utf8').trim() === '0') return;
    fs.writeFileSync(file, '0\n');
  } catch (error) {
    throw new CniError(ErrorCode.IoFailure, `cannot set ${file} to 0 (the pod bridge must not accept router advertisements): ${errorMessage(error)}`);
  }
}
