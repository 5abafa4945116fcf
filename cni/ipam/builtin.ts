// The built-in IPAM: addresses from this network's own stores (ipam/index.ts), one per configured
// family, reserved all or none. Releasing goes through ipam/index.ts releaseAttachment, the path
// GC and doctor --fix-leaks take too.
import { formatCidr, formatIp, type IpFamily } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import { allocate, FAMILIES, releaseAttachment, type Attachment, type StoreOf } from '../../ipam/index.ts';
import type { BuiltinIpam } from '../config/ipam.ts';
import type { NetConf } from '../config/netconf.ts';
import { CniError, ErrorCode, toCniError } from '../errors.ts';
import type { PodAddressing } from '../plan.ts';
import type { IpamBackend, Released } from './backend.ts';

export function builtinIpam(conf: NetConf, ipam: BuiltinIpam, attachment: Attachment, store: StoreOf): IpamBackend {
  const release = (families: readonly IpFamily[]): Released => {
    // Every family's store, not only the configured ones: a family dropped from the conflist
    // since ADD still holds its address until DEL frees it.
    const freed = releaseAttachment(store, attachment, families).map(({ family, ip }) => formatIp({ family, value: ip }));
    return freed.length === 0 ? 'none' : { addresses: freed };
  };
  return {
    async add() {
      const ips: PodAddressing['ips'] = [];
      const fresh: IpFamily[] = [];
      try {
        for (const range of ipam.ranges) {
          const allocation = allocate(store(range.family), range, attachment);
          if (allocation.fresh) fresh.push(range.family);
          ips.push({
            address: { family: range.family, address: allocation.ip, prefixLength: range.subnet.prefixLength },
            gateway: { family: range.family, value: range.gateway },
          });
        }
      } catch (error) {
        // All families or none: an IPv6 range that is full must not leave the IPv4 address taken.
        try {
          release(fresh);
        } catch (undoError) {
          const cause = toCniError(error);
          throw new CniError(cause.code, `${cause.message}; releasing the addresses this ADD took failed too: ${errorMessage(undoError)}`);
        }
        throw error;
      }
      const gatewayOf = (family: IpFamily) => (conf.isGateway ? ips.find((ip) => ip.address.family === family)?.gateway : undefined);
      const routes = ipam.routes
        .filter((r) => r.gw !== undefined || (gatewayOf(r.dst.family) !== undefined && (r.dst.prefixLength > 0 || conf.isDefaultGateway)))
        .map((r) => ({ dst: r.dst, gw: r.gw ?? gatewayOf(r.dst.family) }));
      return { ips, routes, fresh };
    },
    async del(families = FAMILIES) {
      return release(families);
    },
    async check(address) {
      const held = store(address.family).lookup(attachment);
      if (held !== address.address) {
        throw new CniError(
          ErrorCode.CheckFailed,
          held === undefined
            ? `IPAM has no IPv${address.family} reservation for ${attachment.containerId}/${attachment.ifname}`
            : `IPAM reserved ${formatIp({ family: address.family, value: held })} for ${attachment.containerId}/${attachment.ifname}, not ${formatCidr(address)}`,
        );
      }
    },
  };
}
