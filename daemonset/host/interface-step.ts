// Step: read the node interface (and the main table of both families, in one read: host/network.ts),
// then publish its addresses. Peers need our address before we have a podCIDR of our own, so this
// runs first.
import { formatIp, type IpCidr, type IpFamily } from '../../lib/cidr.ts';
import type { Logger } from '../../lib/log.ts';
import { describeAddresses, selectInterface, type NodeInterface } from './interface.ts';
import type { HostNetwork } from './network.ts';
import { OncePerChange } from '../loop/once-per-change.ts';
import type { SyncStep } from '../loop/step.ts';
import { learned, type HostView, type NodeFacts } from '../loop/sync.ts';
import type { NodeStatusApi } from '../nodes/source.ts';
import { ETH1_ANNOTATIONS } from '../../lib/names.ts';

export async function readNodeInterface(network: HostNetwork, want: { iface: string; ifaceCidr?: IpCidr; families?: readonly IpFamily[] }): Promise<HostView> {
  const { links, mainTable } = await network.read();
  return { iface: selectInterface(links, want), mainTable };
}

export class NodeInterfaceRead implements SyncStep<NodeFacts, 'read-node-interface'> {
  readonly name = 'read-node-interface';
  private readonly deps: { network: HostNetwork; iface: string; ifaceCidr?: IpCidr; families: readonly IpFamily[] };

  constructor(deps: { network: HostNetwork; iface: string; ifaceCidr?: IpCidr; families: readonly IpFamily[] }) {
    this.deps = deps;
  }

  async run(facts: NodeFacts): Promise<void> {
    const { network, iface, ifaceCidr, families } = this.deps;
    facts.host = await readNodeInterface(network, { iface, ifaceCidr, families });
  }
}

/** Publishes the interface's address of each family on our Node (Kubernetes mode), once per address. */
export class AddressPublisher implements SyncStep<NodeFacts, 'publish-address'> {
  readonly name = 'publish-address';
  private readonly published = new OncePerChange();
  private readonly deps: { log: Logger; nodeName: string; nodeStatus?: NodeStatusApi };

  constructor(deps: { log: Logger; nodeName: string; nodeStatus?: NodeStatusApi }) {
    this.deps = deps;
  }

  async run(facts: NodeFacts): Promise<void> {
    await this.publish(learned(facts.host, 'read-node-interface').iface);
  }

  async publish(iface: NodeInterface): Promise<void> {
    const key = describeAddresses(iface);
    await this.published.whenChangedAsync(key, async () => {
      this.deps.log.info({ iface: iface.name, address: key, mtu: iface.mtu }, 'node interface chosen');
      for (const family of [4, 6] as const) {
        const address = iface.addresses[family];
        if (!address) continue;
        if (family === 4) await this.deps.nodeStatus?.publishEth1Address(this.deps.nodeName, formatIp(address));
        else await this.deps.nodeStatus?.publishEth1Address(this.deps.nodeName, formatIp(address), ETH1_ANNOTATIONS[6]);
      }
    });
  }
}
