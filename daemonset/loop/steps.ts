// The steps of one sync, in the order they run (each concern's step.ts under daemonset/). Order
// matters: peers need our address before we have a podCIDR of our own, so the interface is read
// and published first; the plugin is installed before the conflist, and the conflist (which
// tells the runtime the network is ready) is written after routes and rules; the Node's status
// says what the conflist step found; NetworkPolicy comes last, its own failure not holding back
// the node's network (its changes between syncs take a faster path: policy/enforcer.ts).
import type { Runner } from '../../lib/exec.ts';
import type { HostNetwork } from '../host/network.ts';
import type { Logger } from '../../lib/log.ts';
import type { AgentConfig } from '../config.ts';
import { ConflistSync } from '../conflist/step.ts';
import { AddressPublisher, NodeInterfaceRead } from '../host/interface-step.ts';
import { HostSettings, PluginInstall } from '../host/setup-step.ts';
import { IptablesSync } from '../iptables/step.ts';
import { NodeListStep } from '../nodes/step.ts';
import type { NodeSource, NodeStatusApi } from '../nodes/source.ts';
import { RouteSync } from '../routes/step.ts';
import type { NodePolicy } from '../policy/enforcer.ts';
import { NetworkPolicyStep } from '../policy/step.ts';
import type { Metrics } from '../serve/metrics.ts';
import { StatusReport } from '../status/step.ts';
import { FlowExportSync } from '../ovs/flow-export.ts';
import { SteeringSync } from '../ovs/steering-step.ts';

export interface SyncStepDeps {
  run: Runner;
  /** The node's interfaces, main table and our routes: rtnetlink on Bun, iproute2 on Node (host/network.ts). */
  network: HostNetwork;
  log: Logger;
  metrics: Metrics;
  config: AgentConfig;
  source: NodeSource;
  nodeStatus?: NodeStatusApi;
  /** /proc/sys, replaceable in tests. */
  procSys?: string;
  /** NetworkPolicy (Kubernetes mode, or to remove the table when it is off); none in standalone mode. */
  policy?: NodePolicy;
  /** --bridge-type ovs: the same-node steering flows (main.ts shares it with the enforcer's readiness); made here when absent. */
  steering?: SteeringSync;
}

export function syncSteps(deps: SyncStepDeps) {
  const { run, network, log, metrics, config, source, nodeStatus } = deps;
  const families = config.clusterCIDRs.map((c) => c.family);
  const routes = new RouteSync({ network, log, metrics, nodeName: config.nodeName });
  const steering = deps.steering ?? new SteeringSync({ log, ovsdbSocket: config.ovsdbSocket, bridge: config.bridge, procSys: deps.procSys, enabled: config.bridgeType === 'ovs' });
  return {
    routes,
    steering,
    /** What the node is: these run on every sync, with or without a podCIDR of our own. */
    learn: [
      new NodeListStep({ source, nodeName: config.nodeName, clusterCIDRs: config.clusterCIDRs }),
      routes.ahead,
      new NodeInterfaceRead({ network, iface: config.iface, ifaceCidr: config.ifaceCidr, families }),
      new AddressPublisher({ log, nodeName: config.nodeName, nodeStatus }),
    ] as const,
    /** Programming the node: these run once our podCIDRs are known. */
    program: [
      new HostSettings({ log, bridge: config.bridge, procSys: deps.procSys, families, bridgeType: config.bridgeType }),
      new PluginInstall({ log, pluginBinary: config.pluginBinary, cniBinDir: config.cniBinDir }),
      routes,
      new IptablesSync({ run, log, metrics, clusterCIDRs: config.clusterCIDRs, forced: config.iptables }),
      // OVS only: same-node pod traffic through the node, so the forward hook (policy, conntrack, kube-proxy's DNAT) sees it.
      steering,
      new ConflistSync({
        run, log, metrics,
        // --once loads no policy table (it lists no pods): it writes the conflist as it always did.
        firstWriteWaitsFor: deps.policy && !config.once ? () => deps.policy!.notLoaded() : undefined,
        settings: {
          explicit: config.cniVersion,
          standalone: config.nodesFile !== undefined,
          cniConfDir: config.cniConfDir,
          cniBinDir: config.cniBinDir,
          bridge: config.bridge,
          ...(config.ovs && { ovs: config.ovs }),
          dataDir: config.dataDir,
          cniLogFile: config.cniLogFile,
          logLevel: config.logLevel === 'silent' ? 'info' : config.logLevel,
        },
      }),
      new StatusReport({ nodeName: config.nodeName, nodeStatus }),
      new NetworkPolicyStep(deps.policy),
      new FlowExportSync({ log, socket: config.ovsdbSocket, bridge: config.bridge, wanted: config.flowExport }),
    ] as const,
  };
}

type SyncSteps = ReturnType<typeof syncSteps>;

/** The sync's steps by name: what /readyz and bridgeway_syncs_total{step} say when one fails. */
export type SyncStepName = (SyncSteps['learn'] | SyncSteps['program'])[number]['name'];
