// Every check, in the order an admin reads them: the cluster view, the node's settings, the
// datapath (routes, iptables, the anti-spoofing table, NetworkPolicy), then the files and state on disk.
import type { DoctorFacts, Reservation } from '../facts.ts';
import type { Finding } from '../finding.ts';
import { checkAntispoof } from './antispoof.ts';
import { checkAgent, checkKube, checkNode } from './cluster.ts';
import { deriveContext } from './context.ts';
import { checkConflist, checkIpam, checkPlugin } from './files.ts';
import { checkBridgeNetfilter, checkForwarding, checkInterface, checkMtu, checkNetworkManager, checkRpFilter } from './host.ts';
import { checkIptables } from './iptables.ts';
import { checkMacvlan } from './macvlan.ts';
import { checkOvs } from './ovs.ts';
import { checkPolicy } from './policy.ts';
import { checkRoutes } from './routes.ts';
import { checkUplinks } from './uplink.ts';

export function runChecks(facts: DoctorFacts, released: readonly Reservation[] = []): Finding[] {
  const context = deriveContext(facts);
  return [
    ...checkAgent(context),
    ...checkKube(context),
    ...checkNode(context),
    ...checkForwarding(context),
    ...checkInterface(context),
    ...checkMtu(context),
    ...checkRpFilter(context),
    ...checkBridgeNetfilter(context),
    ...checkRoutes(context),
    ...checkIptables(context),
    ...checkAntispoof(context),
    ...checkPolicy(context),
    ...checkMacvlan(context.facts),
    ...checkOvs(context.facts),
    ...checkConflist(context),
    ...checkPlugin(context),
    ...checkIpam(context, released),
    ...checkNetworkManager(context),
    ...checkUplinks(context),
  ];
}

export { findLeaks } from './files.ts';
