// CHECK on an Open vSwitch bridge: the pod's side as bridge mode checks it (its interface,
// addresses, routes, sysctls, IPAM: commands/check.ts), then the host side as OVS holds it: the
// host veth exists and is up, its Port is on the network's bridge with this attachment's
// external_ids, the VLAN settings are the ones the config gives the pod's namespace now, and on
// the userspace datapath the pod's TX checksum offload is still off; with antiSpoofing, every
// flow of the port's guard is on the bridge (guard.ts).
import type { KernelLink } from '../../lib/kernel/link.ts';
import { hostVethName } from '../../lib/names.ts';
import { checkAttachment, failed } from '../commands/check.ts';
import type { CommandContext } from '../skel.ts';
import { asCniError, findPort, openDb } from './db.ts';
import { isOwnPort, selectBridge } from './ops.ts';
import { portVlan } from './vlan.ts';
import { checkQos, type ReadEgress } from './qos-check.ts';
import { checkGuard } from './guard.ts';
import { parseCidr } from '../../lib/cidr.ts';
import { parsePrevResult } from '../result.ts';
import { setAtoms, uuidOf } from '../../lib/ovsdb/protocol.ts';

/** Whether TX checksum offload is on for an interface of a namespace; undefined where it cannot be read. */
export type TxChecksumRead = (netns: string, ifname: string) => boolean | undefined;

export async function ovsCheck(ctx: CommandContext, readTxChecksum: TxChecksumRead, readEgress: ReadEgress): Promise<void> {
  const { args, conf } = ctx;
  const ovs = conf.ovs!;
  await checkAttachment(ctx, (_ctx, link: KernelLink | undefined) => {
    const port = hostVethName(args.containerId, args.ifname);
    if (!link) throw failed(`host veth ${port} is missing`);
    if (!link.flags.includes('UP')) throw failed(`host veth ${port} is down`);
  }, { nftGuard: false });
  const port = hostVethName(args.containerId, args.ifname);
  const db = await openDb(ovs.socket);
  try {
    const row = await findPort(db, port);
    if (!row) throw failed(`Open vSwitch has no port ${port}`);
    if (!isOwnPort(row.ids, conf.name, args.containerId, args.ifname)) throw failed(`port ${port}'s external_ids ${JSON.stringify(row.ids)} do not name this attachment`);
    const [bridge] = await db.transact([selectBridge(conf.bridge)]);
    const ports = setAtoms(bridge!.rows![0]?.ports).map((p) => uuidOf(p as never));
    if (!ports.includes(row.uuid)) throw failed(`port ${port} is not on bridge ${conf.bridge}`);
    const wanted = portVlan(ovs, args.args.get('K8S_POD_NAMESPACE'));
    const describe = (v: { tag?: number; trunks?: number[] }) => (v.tag !== undefined ? `an access port of VLAN ${v.tag}` : v.trunks?.length ? `a trunk of VLANs ${v.trunks.join(',')}` : 'a port without VLAN settings');
    const actual = { ...(row.tag !== undefined ? { tag: row.tag } : {}), trunks: row.trunks };
    if (wanted.tag !== actual.tag || (wanted.trunks ?? []).join(',') !== actual.trunks.join(',')) {
      throw failed(`port ${port} is ${describe(actual)}, the config makes it ${describe(wanted)}`);
    }
    await checkQos(db, row, ovs.qos, { network: conf.name, containerId: args.containerId, ifname: args.ifname, netns: args.netns }, readEgress);
    // (A prevResult without addresses gives the guard nothing to compare: bridge mode's checks judge it.)
    const addresses = conf.antiSpoofing ? (parsePrevResult(conf.prevResult)?.ips ?? []).flatMap((ip) => {
      const cidr = parseCidr(ip.address);
      return cidr ? [{ family: cidr.family, value: cidr.address }] : [];
    }) : [];
    if (addresses.length > 0) {
      const problems = await checkGuard(db, { ovsdbSocket: ovs.socket, bridge: conf.bridge, network: conf.name, containerId: args.containerId, ifname: args.ifname }, port, addresses);
      if (problems.length) throw failed(problems.join('; '));
    }
    const [datapath] = setAtoms(bridge!.rows![0]?.datapath_type);
    if (datapath === 'netdev' && readTxChecksum(args.netns, args.ifname) === true) {
      throw failed(`${args.ifname}'s TX checksum offload is on, and TCP through the userspace datapath fails with it (turn it off: ethtool -K ${args.ifname} tx off in the pod)`);
    }
  } catch (error) {
    throw asCniError(error);
  } finally {
    db.close();
  }
}
