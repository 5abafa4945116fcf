// Traffic control requests (tc-codec.ts) over a Transport: a root TBF on an interface, its
// removal, and the interface's qdiscs read back. shapeInNetns() opens the rtnetlink socket inside
// the interface's namespace (the plugin's socket.ts, on Bun) and finds the interface's index there.
import { NLM_F, encodeMessage } from './codec.ts';
import { NetlinkError, ERRNO } from './errors.ts';
import { Rtnl } from './rtnl.ts';
import { NETLINK_ROUTE, NetlinkSocket, type Libc } from './socket.ts';
import { decodeQdisc, RTM_TC, tbfAttrs, tcmsg, TC_H_ROOT, type DecodedQdisc, type Tbf } from './tc-codec.ts';
import type { Transport } from './transport.ts';

export class TrafficControl {
  private readonly transport: Transport;
  constructor(transport: Transport) {
    this.transport = transport;
  }

  /** The interface's root qdisc becomes this TBF (made, or replacing whatever root it had). */
  replaceRootTbf(index: number, tbf: Tbf, ifname = String(index)): void {
    const seq = this.transport.nextSeq();
    const flags = NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE;
    this.transport.request(`qdisc replace dev ${ifname} root tbf`, encodeMessage(RTM_TC.NEWQDISC, flags, seq, tcmsg({ index, parent: TC_H_ROOT }), tbfAttrs(tbf)), seq, false);
  }

  /** Removes the interface's root qdisc; false when it had none of its own (the default). */
  deleteRoot(index: number, ifname = String(index)): boolean {
    const seq = this.transport.nextSeq();
    try {
      this.transport.request(`qdisc del dev ${ifname} root`, encodeMessage(RTM_TC.DELQDISC, NLM_F.REQUEST | NLM_F.ACK, seq, tcmsg({ index, parent: TC_H_ROOT })), seq, false);
      return true;
    } catch (error) {
      if (error instanceof NetlinkError && (error.errno === ERRNO.ENOENT || error.errno === 22 /* EINVAL: the default qdisc */)) return false;
      throw error;
    }
  }

  /** The interface's root qdisc, as the kernel reports it. */
  root(index: number): DecodedQdisc | undefined {
    const seq = this.transport.nextSeq();
    return this.transport
      .request('qdisc show', encodeMessage(RTM_TC.GETQDISC, NLM_F.REQUEST | NLM_F.DUMP, seq, tcmsg({ index: 0 })), seq, true)
      .filter((m) => m.type === RTM_TC.NEWQDISC)
      .map((m) => decodeQdisc(m.payload))
      .find((q) => q.index === index && q.parent === TC_H_ROOT);
  }
}

/** `action` with the TrafficControl of the namespace at `netnsPath` and the index of `ifname` there. */
export function inNetns<T>(libc: Libc, netnsPath: string, ifname: string, action: (tc: TrafficControl, index: number) => T): T {
  const socket = NetlinkSocket.open(libc, NETLINK_ROUTE, netnsPath);
  try {
    const index = new Rtnl(socket).getLink(ifname).index;
    return action(new TrafficControl(socket), index);
  } finally {
    socket.close();
  }
}
