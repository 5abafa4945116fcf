// The addresses an attachment holds, for DEL to know which anti-spoofing elements to delete
// (they derive from the addresses, cni/plan.ts podElements). Built-in IPAM: its stores, read
// before the release; a delegated IPAM plugin does not say, so the runtime's cached ADD result
// (prevResult, which libcni passes to DEL) is all there is. Nothing known: nothing to delete.
import { parseCidr, type IpAddress } from '../lib/cidr.ts';
import { FAMILIES, type StoreOf } from '../ipam/index.ts';
import type { NetConf } from './config/netconf.ts';
import { parsePrevResult } from './result.ts';

export function heldAddresses(conf: NetConf, attachment: { containerId: string; ifname: string }, store: StoreOf): IpAddress[] {
  if (conf.ipam.kind === 'builtin') {
    return FAMILIES.flatMap((family) => {
      const value = store(family).lookup(attachment);
      return value === undefined ? [] : [{ family, value }];
    });
  }
  return (parsePrevResult(conf.prevResult)?.ips ?? []).flatMap((ip) => {
    const cidr = parseCidr(ip.address);
    return cidr ? [{ family: cidr.family, value: cidr.address }] : [];
  });
}
