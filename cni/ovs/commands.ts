// The commands of an Open vSwitch bridge, loaded by cni/macvlan/dispatch.ts only for a network
// with "bridgeType": "ovs", so a Linux-bridge plugin start never parses them (nor node:net). The
// pod's TX checksum offload is set over the SIOCETHTOOL ioctl through libc where the runtime has
// FFI (the Bun executable), and with `ethtool` inside the pod elsewhere (the bundle on Node,
// which spawns `ip` for everything anyway).
import { setTxChecksum, txChecksum } from '../../lib/ethtool/tx-checksum.ts';
import type { Runner } from '../../lib/exec.ts';
import type { Libc } from '../../lib/netlink/socket.ts';
import type { Commands } from '../macvlan/dispatch.ts';
import { ovsAdd, type TxChecksumOff } from './add.ts';
import { ovsCheck, type TxChecksumRead } from './check.ts';
import { ovsDel } from './del.ts';
import { ovsGc } from './gc.ts';
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
  return { ADD: (ctx) => ovsAdd(ctx, { txChecksumOff }), DEL: ovsDel, CHECK: (ctx) => ovsCheck(ctx, readTxChecksum), STATUS: ovsStatus, GC: ovsGc };
}
