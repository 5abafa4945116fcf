// Step: read the node interface (and the main table of both families, in the same `ip` process),
// then publish its addresses. Peers need our address before we have a podCIDR of our own, so this
// runs first.
import { formatIp, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import type { Runner } from '../../lib/exec.ts';
import { parseInterfaceAddresses } from '../../lib/iproute2/addr.ts';
import { queryIpJson } from '../../lib/iproute2/batch.ts';
import { mainTableOf } from '../../lib/iproute2/route.ts';
import type { KernelRoute } from '../../lib/kernel/route.ts';
import type { Logger } from '../../lib/log.ts';
import { describeAddresses, selectInterface, type NodeInterface } from '../interface.ts';
import { ETH1_ANNOTATIONS } from '../node-info.ts';
import type { NodeStatusApi } from '../node-source.ts';

export interface HostView {
  iface: NodeInterface;
  /** The main table as read now, IPv4 and IPv6 routes. */
  mainTable: KernelRoute[];
}

export async function readNodeInterface(run: Runner, want: { iface: string; ifaceCidr?: IpCidr; families?: readonly IpFamily[] }): Promise<HostView> {
  const [addresses, routes] = await queryIpJson(run, [['addr', 'show'], ['route', 'show', 'table', 'all']]);
  return { iface: selectInterface(parseInterfaceAddresses(addresses!), want), mainTable: mainTableOf(routes!) };
}

/** Publishes the interface's address of each family on our Node (Kubernetes mode), once per address. */
export class AddressPublisher {
  private published = '';
  private readonly deps: { log: Logger; nodeName: string; nodeStatus?: NodeStatusApi };

  constructor(deps: { log: Logger; nodeName: string; nodeStatus?: NodeStatusApi }) {
    this.deps = deps;
  }

  async publish(iface: NodeInterface): Promise<void> {
    const key = describeAddresses(iface);
    if (this.published === key) return;
    this.deps.log.info({ iface: iface.name, address: key, mtu: iface.mtu }, 'node interface chosen');
    for (const family of [4, 6] as const) {
      const address = iface.addresses[family];
      if (!address) continue;
      if (family === 4) await this.deps.nodeStatus?.publishEth1Address(this.deps.nodeName, formatIp(address));
      else await this.deps.nodeStatus?.publishEth1Address(this.deps.nodeName, formatIp(address), ETH1_ANNOTATIONS[6]);
    }
    this.published = key;
  }
}
