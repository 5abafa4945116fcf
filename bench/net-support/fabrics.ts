// The pod -> pod paths bench:net compares, each in its own simulated two-node cluster
// (test/support/cluster.ts: a switch namespace, node namespaces with eth1 = 192.168.50.(10+i)/24 on
// it), so that they cannot disturb one another and share nothing but the kernel:
//   bridgeway: the real agent (standalone mode) and the real plugin, exactly as in the e2e, so
//               with anti-spoofing (issue 17) on, its default, and a second pod on the first node
//               (pod -> pod across the bridge alone, for the anti-spoofing rounds);
//   hand-built: the same bridge, veth and addresses made with plain `ip`, one route per peer
//               podCIDR via the peer's eth1, ip_forward on, no iptables rules at all;
//   vxlan:      flannel's vxlan backend as it builds it (pkg/backend/vxlan): a vxlan device
//               "flannel.1" with VNI 1 on eth1 (UDP 8472, no learning) holding <podCIDR>.0/32,
//               per peer a permanent neighbour entry and an FDB entry for the peer's VTEP MAC and
//               the route `<peer podCIDR> via <peer>.0 dev flannel.1 onlink`, and the bridge and
//               pods at MTU 1450 (1500 minus the 50 bytes of VXLAN over IPv4). Without flannel's
//               iptables rules: what is measured is the encapsulation;
//   "+ conntrack": hand-built and vxlan again, with one nat rule each (addConntrackOnly), to tell
//               the cost of connection tracking from that of the path.
import fs from 'node:fs';
import { attachmentElements, type Element } from '../../lib/antispoof/ruleset.ts';
import { eventually, SimCluster, type SimNode } from '../../test/support/cluster.ts';
import { run } from '../../test/support/exec-in.ts';

export interface Pod {
  netns: string;
  ip: string;
}

export interface Fabric {
  name: string;
  cluster: SimCluster;
  /** One pod on each of the two nodes. */
  pods: [Pod, Pod];
  /** bridgeway's: a second pod on the first node, for pod -> pod across the bridge alone. */
  neighbour?: Pod;
}

const ip = (node: SimNode, args: string[], netns = node.path) => run(['nsenter', `--net=${netns}`, '--', 'ip', ...args]);

/** A pod namespace in the cluster's lab, so that destroy() (and a signal's cleanup) removes it. */
async function podNamespace(cluster: SimCluster, node: SimNode, suffix: string): Promise<string> {
  const netns = cluster.lab.netnsPath(await cluster.lab.addNamespace(`n${node.index}${suffix}`));
  node.podNetns.push(netns);
  return netns;
}

/** Index-th address of a node's podCIDR (10.244.<i+1>.0/24). */
function podAddress(node: SimNode, index: number): string {
  return node.podCIDR!.replace(/\.0\/24$/, `.${index}`);
}

export async function bridgewayFabric(cluster: SimCluster): Promise<Fabric> {
  const [a, b] = cluster.nodes as [SimNode, SimNode];
  // --resync 10m: no periodic sync running during the measurements (the last flag wins).
  for (const node of [a, b]) cluster.startAgent(node, ['--resync', '10m', '--log-level', 'warn']);
  for (const node of [a, b]) {
    const peer = node === a ? b : a;
    await eventually(async () => (await node.agentRoutes()).includes(`${peer.podCIDR} via ${peer.eth1IP}`) && fs.existsSync(node.conflistPath), 30_000, `the agent on ${node.name}`);
  }
  const [podA, podB, neighbour] = [await cluster.addPod(a), await cluster.addPod(b), await cluster.addPod(a)];
  return { name: 'bridgeway', cluster, pods: [{ netns: podA.netns, ip: podA.ip }, { netns: podB.netns, ip: podB.ip }], neighbour: { netns: neighbour.netns, ip: neighbour.ip } };
}

/**
 * Elements of `count` attachments on ports that do not exist, with addresses 10.250.x.y (unused):
 * only entries in the sets, which is all a lookup sees (bench/net-support/antispoofing-ab.ts).
 */
export function otherAttachments(node: SimNode, count: number): Element[] {
  const elements: Element[] = [];
  for (let i = 0; i < count; i++) {
    const low = (node.index << 16) | (i + 10);
    const mac = `0a:58:0a:fa:${((low >> 8) & 0xff).toString(16).padStart(2, '0')}:${(low & 0xff).toString(16).padStart(2, '0')}`;
    const ipv4 = { family: 4 as const, value: BigInt((10 << 24) | (250 << 16) | (low & 0xffff)) };
    elements.push(...attachmentElements({ port: `bwother${node.index}x${i}`, mac, addresses: [ipv4] }));
  }
  return elements;
}

/** A bridge holding the podCIDR's .1 and one pod on a veth, as the plugin makes them. */
async function bridgeAndPod(cluster: SimCluster, node: SimNode, mtu: number): Promise<Pod> {
  const netns = await podNamespace(cluster, node, 'p');
  const [gateway, address] = [podAddress(node, 1), podAddress(node, 2)];
  await run(['nsenter', `--net=${node.path}`, '--', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  for (const args of [
    ['link', 'add', 'cni0', 'mtu', String(mtu), 'type', 'bridge'],
    ['addr', 'add', `${gateway}/24`, 'dev', 'cni0'],
    ['link', 'set', 'cni0', 'up'],
    ['link', 'add', 'vethpod', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', netns],
    ['link', 'set', 'vethpod', 'master', 'cni0', 'up'],
  ]) await ip(node, args);
  for (const args of [['link', 'set', 'lo', 'up'], ['addr', 'add', `${address}/24`, 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', gateway]]) {
    await ip(node, args, netns);
  }
  return { netns, ip: address };
}

export async function handBuiltFabric(cluster: SimCluster): Promise<Fabric> {
  const [a, b] = cluster.nodes as [SimNode, SimNode];
  const pods = [await bridgeAndPod(cluster, a, 1500), await bridgeAndPod(cluster, b, 1500)] as [Pod, Pod];
  await ip(a, ['route', 'add', b.podCIDR!, 'via', b.eth1IP, 'dev', 'eth1']);
  await ip(b, ['route', 'add', a.podCIDR!, 'via', a.eth1IP, 'dev', 'eth1']);
  return { name: 'hand-built', cluster, pods };
}

const VXLAN_DEVICE = 'flannel.1';
const VXLAN_MTU = 1450;

export async function vxlanFabric(cluster: SimCluster): Promise<Fabric> {
  const [a, b] = cluster.nodes as [SimNode, SimNode];
  const vtepMac = new Map<SimNode, string>();
  for (const node of [a, b]) {
    await ip(node, ['link', 'add', VXLAN_DEVICE, 'type', 'vxlan', 'id', '1', 'local', node.eth1IP, 'dev', 'eth1', 'dstport', '8472', 'nolearning']);
    await ip(node, ['link', 'set', VXLAN_DEVICE, 'mtu', String(VXLAN_MTU)]);
    await ip(node, ['addr', 'add', `${podAddress(node, 0)}/32`, 'dev', VXLAN_DEVICE]);
    await ip(node, ['link', 'set', VXLAN_DEVICE, 'up']);
    const [link] = JSON.parse((await run(['nsenter', `--net=${node.path}`, '--', 'ip', '-j', 'link', 'show', 'dev', VXLAN_DEVICE])).stdout);
    vtepMac.set(node, link.address);
  }
  for (const [node, peer] of [[a, b], [b, a]] as const) {
    const peerVtep = podAddress(peer, 0);
    await ip(node, ['neigh', 'replace', peerVtep, 'lladdr', vtepMac.get(peer)!, 'dev', VXLAN_DEVICE, 'nud', 'permanent']);
    await run(['nsenter', `--net=${node.path}`, '--', 'bridge', 'fdb', 'append', vtepMac.get(peer)!, 'dev', VXLAN_DEVICE, 'dst', peer.eth1IP]);
    await ip(node, ['route', 'add', peer.podCIDR!, 'via', peerVtep, 'dev', VXLAN_DEVICE, 'onlink']);
  }
  const pods = [await bridgeAndPod(cluster, a, VXLAN_MTU), await bridgeAndPod(cluster, b, VXLAN_MTU)] as [Pod, Pod];
  return { name: 'vxlan', cluster, pods };
}

/**
 * For the diagnosis only: one MASQUERADE rule for traffic leaving the cluster CIDR on each node of
 * the hand-built path. Pod -> pod traffic never matches it, but a nat rule makes the kernel track
 * every connection (conntrack), as any CNI that masquerades egress does (bridgeway, flannel,
 * kindnet). A second hand-built path with it separates that cost from our chains'.
 */
export async function addConntrackOnly(fabric: Fabric, clusterCidr: string): Promise<void> {
  for (const node of fabric.cluster.nodes) {
    await run(['nsenter', `--net=${node.path}`, '--', 'iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', clusterCidr, '!', '-d', clusterCidr, '-j', 'MASQUERADE']);
  }
}
