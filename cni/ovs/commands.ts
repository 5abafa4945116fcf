// The commands of an Open vSwitch bridge, loaded by cni/macvlan/dispatch.ts only for a network
// with "bridgeType": "ovs", so a Linux-bridge plugin start never parses them (nor node:net). The
// pod's TX checksum offload and its egress limit are set in-process where the runtime has FFI (the
// Bun executable: the SIOCETHTOOL ioctl, rtnetlink's tc messages), and with `ethtool` and `tc`
// inside the pod elsewhere (the bundle on Node, which spawns `ip` for everything anyway).
import { setTxChecksum, txChecksum } from '../../lib/ethtool/tx-checksum.ts';
import type { Runner } from '../../lib/exec.ts';
import type { Libc } from '../../lib/netlink/socket.ts';
import { inNetns } from '../../lib/netlink/tc.ts';
import { tbfFromBits } from '../../lib/netlink/tc-codec.ts';
import type { Commands } from '../macvlan/dispatch.ts';
import { ovsAdd, type ShapeEgress, type TxChecksumOff } from './add.ts';
import { ovsCheck, type TxChecksumRead } from './check.ts';
import { ovsDel } from './del.ts';
import { ovsGc } from './gc.ts';
import type { ReadEgress } from './qos-check.ts';
import { ovsStatus } from './status.ts';

export function ovsCommands(deps: { libc: () => Libc | undefined; run: Runner }): Commands {
  const txChecksumOff: TxChecksumOff = async (netns, ifname) => {
    const libc = deps.libc();
    if (libc) setTxChecksum(libc, netns, ifname, false);
    else await deps.run(['nsenter', `--net=${netns}`, '--', 'ethtool', '-K', ifname, 'tx', 'off']);
  };
  const readTxChecksum: TxChecksumRead = (netns, ifname) => {
    const libc = deps.libc();
    return libc ? txChecksum(libc, netns, ifname) : undefined;
  };
  const shapeEgress: ShapeEgress = async (netns, ifname, limit) => {
    const tbf = tbfFromBits(limit.rate, limit.burst);
    const libc = deps.libc();
    if (libc) inNetns(libc, netns, ifname, (tc, index) => tc.replaceRootTbf(index, tbf, ifname));
    else await deps.run(['nsenter', `--net=${netns}`, '--', 'tc', 'qdisc', 'replace', 'dev', ifname, 'root', 'tbf', 'rate', `${tbf.rate * 8}bit`, 'burst', String(tbf.burst), 'limit', String(tbf.limit)]);
  };
  const readEgress: ReadEgress = (netns, ifname) => {
    const libc = deps.libc();
    if (!libc) return undefined;
    const root = inNetns(libc, netns, ifname, (tc, index) => tc.root(index));
    return root ? { kind: root.kind, ...(root.rate !== undefined ? { rateBits: root.rate * 8 } : {}) } : { kind: 'none' };
  };
  return { ADD: (ctx) => ovsAdd(ctx, { txChecksumOff, shapeEgress }), DEL: ovsDel, CHECK: (ctx) => ovsCheck(ctx, readTxChecksum, readEgress), STATUS: ovsStatus, GC: ovsGc };
}
