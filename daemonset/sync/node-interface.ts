// Step: read the node interface (and the main table, in the same `ip` process), then publish its
// address. Peers need our address before we have a podCIDR of our own, so this runs first.
import { formatIpv4, type Ipv4Cidr } from '../../lib/cidr.ts';
import type { Runner } from '../../lib/exec.ts';
import { parseInterfaceAddresses } from '../../lib/iproute2/addr.ts';
import { queryIpJson } from '../../lib/iproute2/batch.ts';
import { parseRoutes, type KernelRoute } from '../../lib/iproute2/route.ts';
import type { Logger } from '../../lib/log.ts';
import { selectInterface, type NodeInterface } from '../interface.ts';
import type { NodeStatusApi } from '../node-source.ts';

export interface HostView {
  iface: NodeInterface;
  /** The IPv4 main table as read now (`route show` lists it). */
  mainTable: KernelRoute[];
}

export async function readNodeInterface(run: Runner, want: { iface: string; ifaceCidr?: Ipv4Cidr }): Promise<HostView> {
  const [addresses, routes] = await queryIpJson(run, [['addr', 'show'], ['route', 'show', 'table', 'main']]);
  return { iface: selectInterface(parseInterfaceAddresses(addresses!), want), mainTable: parseRoutes(routes!) };
}

/** Publishes the interface's address on our Node (Kubernetes mode), once per address. */
export class AddressPublisher {
  private published = '';
  private readonly deps: { log: Logger; nodeName: string; nodeStatus?: NodeStatusApi };

  constructor(deps: { log: Logger; nodeName: string; nodeStatus?: NodeStatusApi }) {
    this.deps = deps;
  }

  async publish(iface: NodeInterface): Promise<void> {
    const address = formatIpv4(iface.address);
    if (this.published === address) return;
    this.deps.log.info({ iface: iface.name, address, mtu: iface.mtu }, 'node interface chosen');
    await this.deps.nodeStatus?.publishEth1Address(this.deps.nodeName, address);
    this.published = address;
  }
}
