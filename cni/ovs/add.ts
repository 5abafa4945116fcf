// ADD on an Open vSwitch bridge: [VLAN from the config and namespace] -> database -> address ->
// plan -> the bridge (made over OVSDB if missing) -> its internal interface's gateway addresses and
// the veth (rtnetlink, as bridge mode) -> the port (one OVSDB transaction, then ovs-vswitchd's
// read-back) -> [antiSpoofing: the port's guard flows over OpenFlow, guard.ts] -> [TX checksum off
// in the pod, userspace datapath] -> the pod's side (its interface up) -> result.
// Each step that succeeds registers its undo, and a failure runs them in reverse, as bridge
// mode's ADD does: no port, veth or reserved address is left. The bridge stays (shared).
import type { Kernel } from '../../lib/kernel/kernel.ts';
import { applyPodSide, createHostSide } from '../apply.ts';
import { refuseRouterAdvertisements } from '../bridge-ipv6.ts';
import { CniError, ErrorCode } from '../errors.ts';
import { reserveAddresses, rollBack, type UndoStep } from '../steps.ts';
import { ipamFor } from '../ipam/index.ts';
import { requireNetns } from '../netns.ts';
import { convertResult } from '../result.ts';
import type { CommandContext } from '../skel.ts';
import { asCniError, attach, AttachError, ensureBridge, findPort, openDb } from './db.ts';
import { guardIdentity, installGuard, interfaceOfport, removeGuard, type OpenFlowConnect } from './guard.ts';
import { removePort, isOwnPort } from './ops.ts';
import { qosOwnerIds, type Limit } from './qos.ts';
import { planOvsAdd } from './plan.ts';
import { portVlan } from './vlan.ts';

/** Turns TX checksum offload off on an interface of a namespace (lib/ethtool/ on Bun). */
export type TxChecksumOff = (netns: string, ifname: string) => Promise<void>;

/** Puts the egress limit (a TBF root qdisc) on an interface of a namespace (qos.ts). */
export type ShapeEgress = (netns: string, ifname: string, limit: Limit) => Promise<void>;

export interface OvsDeps {
  txChecksumOff: TxChecksumOff;
  shapeEgress: ShapeEgress;
  /** The bridge's OpenFlow connection (the anti-spoofing flows); lib/openflow/client.ts by default. */
  openflow?: OpenFlowConnect;
}

/** How long ADD waits for ovs-vswitchd to make a new bridge's internal interface. */
const BRIDGE_LINK_WAIT_MS = 5000;

export async function ovsAdd(ctx: CommandContext, deps: OvsDeps): Promise<object> {
  const { args, conf, run, kernel, log } = ctx;
  const ovs = conf.ovs!;
  requireNetns(args.netns);
  const podNamespace = args.args.get('K8S_POD_NAMESPACE');
  const podName = args.args.get('K8S_POD_NAME');
  // Refusals first: nothing is reserved or made for a pod this network does not take.
  const vlan = portVlan(ovs, podNamespace);
  const target = { containerId: args.containerId, ifname: args.ifname, netns: args.netns };
  const db = await openDb(ovs.socket);
  const ipam = ipamFor(conf, args, { run, store: ctx.store });
  const undo: UndoStep[] = [];
  try {
    const { pod, addresses } = await reserveAddresses(ipam, undo);
    const plan = planOvsAdd(conf, target, pod);
    const bridge = await ensureBridge(db, { name: conf.bridge, datapath: ovs.datapath, mac: plan.bridgeMac, mtu: conf.mtu });
    if (bridge.created) log.info({ bridge: conf.bridge, datapath: bridge.datapath }, 'Open vSwitch bridge created');
    if (bridge.raced) log.debug({ bridge: conf.bridge }, 'Open vSwitch bridge made by a concurrent ADD meanwhile');
    await waitForLink(kernel, conf.bridge);
    // The internal interface up with its gateway addresses, and the veth, in one batch; the
    // bridge's link read back (its MAC for the result). No ports to read: OVS holds them.
    const bridgeLink = (await createHostSide(kernel, plan, target, log, [{ op: 'show-link', link: plan.bridge }]))[0]?.[0];
    undo.push({ what: `delete veth ${plan.hostVeth}`, action: () => kernel.deleteLinksIfPresent([plan.hostVeth]) });
    if (plan.bridgeIpv6) refuseRouterAdvertisements(ctx.procSys, plan.bridge);
    if (bridgeLink?.mac) plan.result.interfaces[0]!.mac = bridgeLink.mac;

    const stale = await findPort(db, plan.hostVeth);
    if (stale && !isOwnPort(stale.ids, conf.name, args.containerId, args.ifname)) {
      throw new CniError(ErrorCode.InvalidNetworkConfig, `Open vSwitch already has a port ${plan.hostVeth} that is not this attachment's (external_ids ${JSON.stringify(stale.ids)}): bridgeway leaves it alone`);
    }
    if (stale) log.warn({ port: plan.hostVeth }, 'replacing a port left by an interrupted ADD of this attachment');
    const ingress = ovs.qos?.ingress;
    const qosIds = qosOwnerIds(conf.name, args.containerId, args.ifname);
    const podAddresses = pod.ips.map((ip) => ({ family: ip.address.family, value: ip.address.address }));
    const guard = conf.antiSpoofing ? guardIdentity(podAddresses) : undefined;
    let portUuid: string;
    try {
      portUuid = await attach(db, {
        bridge: conf.bridge,
        port: plan.hostVeth,
        owner: { network: conf.name, containerId: args.containerId, ifname: args.ifname, ...(podNamespace !== undefined ? { podNamespace } : {}), ...(podName !== undefined ? { podName } : {}) },
        vlan,
        ...(stale ? { stalePort: stale.uuid } : {}),
        ...(ingress ? { ingress } : {}),
        ...(guard ? { guard } : {}),
      });
    } catch (error) {
      if (!(error instanceof AttachError)) throw error;
      undo.push({ what: `remove port ${plan.hostVeth} from ${conf.bridge}`, action: () => db.transact(removePort(error.portUuid, qosIds)) });
      throw error.cause;
    }
    undo.push({ what: `remove port ${plan.hostVeth} from ${conf.bridge}`, action: () => db.transact(removePort(portUuid, qosIds)) });
    if (guard) {
      // Before the pod's interface comes up (applyPodSide): it never sends unguarded. The undo
      // first: a batch refused halfway may have left some of the flows.
      const ofport = await interfaceOfport(db, plan.hostVeth);
      const guardTarget = { ovsdbSocket: ovs.socket, bridge: conf.bridge, network: conf.name, containerId: args.containerId, ifname: args.ifname };
      undo.push({ what: `remove the anti-spoofing flows of ${plan.hostVeth}`, action: () => removeGuard(guardTarget, deps.openflow) });
      const flows = await installGuard(guardTarget, { ofport, mac: guard.mac, addresses: podAddresses }, deps.openflow);
      log.debug({ port: plan.hostVeth, ofport, flows }, 'anti-spoofing flows installed');
    }
    if (bridge.datapath === 'netdev') await deps.txChecksumOff(target.netns, target.ifname);
    // The egress limit on the pod's interface: it goes with the veth, whose undo is registered.
    if (ovs.qos?.egress) await deps.shapeEgress(target.netns, target.ifname, ovs.qos.egress);
    await applyPodSide(kernel, plan, target, log);
    log.info({ ips: addresses, hostVeth: plan.hostVeth, bridge: conf.bridge, ...vlan, ...(ovs.qos ? { qos: ovs.qos } : {}), netns: args.netns }, 'pod attached (Open vSwitch)');
    return convertResult(plan.result, conf.cniVersion);
  } catch (error) {
    // Awaited: the undos use the database connection, which `finally` closes.
    return await rollBack(undo, asCniError(error), log);
  } finally {
    db.close();
  }
}

/** ovs-vswitchd makes the bridge's internal interface once it reads the new bridge. */
async function waitForLink(kernel: Kernel, name: string): Promise<void> {
  for (let waited = 0; ; waited += 20) {
    if (await kernel.getLink(name)) return;
    if (waited >= BRIDGE_LINK_WAIT_MS) {
      throw new CniError(ErrorCode.TryAgainLater, `the Open vSwitch bridge ${name} has no interface in this namespace after ${BRIDGE_LINK_WAIT_MS} ms (is ovs-vswitchd running, in this network namespace?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

