// Pure: a macvlan attachment (issue 20) as kernel changes and its result, from the config, the
// master, the attachment and IPAM's addresses; the same shape as cni/plan.ts's for a veth.
//   node batch   one add-macvlan born in the pod's namespace (IFLA_NET_NS_FD: made and moved in
//                one message, so it never sits in the node under a name that could clash)
//   pod batch    the same sysctls as a veth pod (no router advertisements, no redirects: any host
//                of the LAN could send them), lo up, the addresses (IPv6 nodad), up, the routes
//   pod MAC      0a:58:<IPv4> (or of the IPv6 address), as on the bridge: stable for an address,
//                so the LAN's ARP caches stay right when a pod comes back with it; passthru
//                keeps the master's (the kernel would change the NIC's own MAC to ours)
// The pod's name in the pod is CNI_IFNAME from the start: the pod's namespace is the only one it
// is ever in.
import { formatCidr, formatIp, type IpFamily } from '../../lib/cidr.ts';
import type { Change } from '../../lib/kernel/change.ts';
import { addressMac } from '../../lib/mac.ts';
import type { NetConf } from '../config/netconf.ts';
import { podInterfaceChanges, type AddTarget, type PodAddressing } from '../plan.ts';
import type { Result } from '../result.ts';
import type { MacvlanConf } from './config.ts';
import type { Master } from './master.ts';

export interface MacvlanPlan {
  /** In the node's namespace: the pod's macvlan, made inside the pod. */
  nodeChanges: Change[];
  /** Inside the pod's namespace. */
  podChanges: Change[];
  /** The MAC the plan sets; undefined in passthru (the master's, read back after). */
  mac?: string;
  result: Result;
}

export function macvlanPodMac(pod: PodAddressing): string {
  const source = pod.ips.find((ip) => ip.address.family === 4) ?? pod.ips[0];
  if (!source) throw new Error('macvlanPodMac: the pod has no address');
  return addressMac({ family: source.address.family, value: source.address.address });
}

export function planMacvlanAdd(conf: NetConf, macvlan: MacvlanConf, master: Master, mtu: number, target: AddTarget, pod: PodAddressing): MacvlanPlan {
  if (pod.ips.length === 0) throw new Error('planMacvlanAdd: the pod has no address');
  const mac = macvlan.mode === 'passthru' ? undefined : macvlanPodMac(pod);
  const nodeChanges: Change[] = [
    { op: 'add-macvlan', name: target.ifname, master: master.name, mode: macvlan.mode, mtu, ...(mac ? { mac } : {}), netns: target.netns },
  ];
  const podChanges = podInterfaceChanges({ antiSpoofing: false }, target.ifname, pod);
  const result: Result = {
    cniVersion: conf.cniVersion,
    interfaces: [{ name: target.ifname, ...(mac ? { mac } : {}), mtu, sandbox: target.netns }],
    ips: pod.ips.map((ip) => ({ address: formatCidr(ip.address), ...(ip.gateway ? { gateway: formatIp(ip.gateway) } : {}), interface: 0 })),
    routes: pod.routes.map((r) => ({ dst: formatCidr(r.dst), ...(r.gw !== undefined ? { gw: formatIp(r.gw) } : {}) })),
    dns: conf.dns,
  };
  return { nodeChanges, podChanges, ...(mac ? { mac } : {}), result };
}

/** The families of the pod's addresses, for what announces them. */
export function podFamilies(pod: PodAddressing): IpFamily[] {
  return [...new Set(pod.ips.map((ip) => ip.address.family))];
}
