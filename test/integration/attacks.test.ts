// A hostile pod on the bridge (issue 17): two victim pods and an attacker pod, dual-stack, made by
// the built plugin as a runtime makes them. The attacker crafts its packets with scapy inside its
// own namespace (root has CAP_NET_RAW, as a container has by default) and tries what any pod
// could: an IPv6 router advertisement to every node on the bridge, and ICMPv6 and ICMPv4
// redirects to a victim with the gateway's address as source. Each must change nothing in the
// victims (the sysctls ADD sets in the pod: cni/plan.ts), and ordinary traffic must still flow.
// Every namespace is the lab's (a unique prefix, removed in finally); nothing touches the node's.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnlessRoot, withNode, type TestNode } from './harness.ts';

const V4 = '10.95.0.0/24';
const V6 = 'fd00:95::/64';
const GATEWAY4 = '10.95.0.1';
/** The bridge's link-local address (cni/plan.ts), the first hop a victim's route below names. */
const GATEWAY_LL = 'fe80::1';
/** The source the attacker claims as a router: any link-local address will do for the kernel. */
const ATTACKER_LL = 'fe80::bad:1';
/** Destinations outside the pod network whose routing the redirects try to take over. */
const FAR4 = '203.0.113.9';
const FAR6 = '2001:db8:1::9';
const scapyAvailable = async (node: TestNode) => node.exec(['python3', '-c', 'import scapy.all'], node.path).then(() => true, () => false);

/**
 * The attacker's packets, one kind per run: `ra`, `redirect6 <victim> <gateway ll> <dst>`,
 * `redirect4 <victim> <gateway> <new gateway> <dst>`. Sent twice, 300 ms apart: an IPv4 redirect
 * takes effect only once the victim has the new gateway's MAC (the first one makes it ask). The
 * IPv4 redirect quotes an echo reply: with no socket to deliver it to, the kernel acts on a
 * redirect only through ICMP's own error handler, which takes it for a quoted echo reply
 * (icmp_err in net/ipv4/icmp.c); a quoted UDP or TCP packet needs a matching socket.
 */
const SCAPY = String.raw`
import sys, time
from scapy.all import conf, sendp, get_if_hwaddr, Ether, IP, ICMP, IPv6, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, ICMPv6ND_Redirect, ICMPv6NDOptDstLLAddr
conf.verb = 0
mac = get_if_hwaddr('eth0')
kind = sys.argv[1]
if kind == 'ra':
    ll = sys.argv[2]
    frame = (Ether(src=mac, dst='33:33:00:00:00:01') / IPv6(src=ll, dst='ff02::1', hlim=255)
             / ICMPv6ND_RA(routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=mac)
             / ICMPv6NDOptPrefixInfo(prefix='2001:db8:bad::', prefixlen=64, L=1, A=1, validlifetime=86400, preferredlifetime=14400))
elif kind == 'redirect6':
    victim, victim_mac, gateway, target, dst = sys.argv[2:7]
    frame = (Ether(src=mac, dst=victim_mac) / IPv6(src=gateway, dst=victim, hlim=255)
             / ICMPv6ND_Redirect(tgt=target, dst=dst) / ICMPv6NDOptDstLLAddr(lladdr=mac))
elif kind == 'redirect4':
    victim, victim_mac, gateway, new_gateway, dst = sys.argv[2:7]
    frame = (Ether(src=mac, dst=victim_mac) / IP(src=gateway, dst=victim)
             / ICMP(type=5, code=1, gw=new_gateway) / IP(src=victim, dst=dst, ttl=63) / ICMP(type=0, id=1, seq=1))
else:
    sys.exit('unknown attack ' + kind)
for _ in range(2):
    sendp(frame, iface='eth0')
    time.sleep(0.3)
`;

async function attack(node: TestNode, attacker: string, args: string[]): Promise<void> {
  await node.exec(['python3', '-c', SCAPY, ...args], attacker);
}

/** What an RA or a redirect could change in a namespace: its addresses and routes, both families. */
async function routingState(node: TestNode, netns: string): Promise<{ addresses: string[]; routes: string[] }> {
  const links = await node.ipJson(['addr', 'show'], netns);
  const addresses = links.flatMap((l) => (l.addr_info ?? []).map((a: any) => `${l.ifname} ${a.local}/${a.prefixlen}`)).sort();
  const routes = (await Promise.all(['-4', '-6'].map((family) => node.ipJson([family, 'route', 'show', 'table', 'all'], netns))))
    .flat()
    .filter((r) => r.type !== 'local' && r.type !== 'multicast' && r.type !== 'broadcast')
    .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}${r.protocol ? ` proto ${r.protocol}` : ''}`)
    .sort();
  return { addresses, routes };
}

async function routeGet(node: TestNode, netns: string, dst: string): Promise<string> {
  return (await node.exec(['ip', 'route', 'get', dst], netns)).stdout.trim();
}

async function sysctl(node: TestNode, netns: string, key: string): Promise<string> {
  return (await node.exec(['cat', `/proc/sys/${key}`], netns)).stdout.trim();
}

async function mac(node: TestNode, netns: string): Promise<string> {
  return (await node.ipJson(['link', 'show', 'dev', 'eth0'], netns))[0].address;
}

/** The node, two victims (.2, .3) and an attacker (.4) on one bridge, dual-stack. */
async function bridgeWithAttacker(node: TestNode) {
  const conf = node.conf({ ipam: { ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] } });
  const [victim1, victim2, attacker] = [await node.pod(), await node.pod(), await node.pod()];
  for (const [i, pod] of [victim1!, victim2!, attacker!].entries()) await node.add(pod, `c${i}`, conf);
  return { victim1: victim1!, victim2: victim2!, attacker: attacker!, victims: [victim1!, victim2!] };
}

describe('a hostile pod cannot reconfigure its neighbours', { skip: skipUnlessRoot }, () => {
  test('an IPv6 router advertisement to ff02::1 gives no victim, nor the node, a route or an address', () =>
    withNode(async (node) => {
      if (!(await scapyAvailable(node))) return assert.fail('python3-scapy is missing: run scripts/install-deps.sh');
      const { attacker, victims } = await bridgeWithAttacker(node);
      const before = await Promise.all([...victims, node.path].map((ns) => routingState(node, ns)));
      await attack(node, attacker, ['ra', ATTACKER_LL]);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await Promise.all([...victims, node.path].map((ns) => routingState(node, ns)));
      assert.deepEqual(after, before, 'no route (default or prefix) and no address from the RA');
      for (const victim of victims) {
        assert.deepEqual(await Promise.all(['accept_ra', 'accept_redirects'].map((k) => sysctl(node, victim, `net/ipv6/conf/eth0/${k}`))), ['0', '0']);
      }
      assert.equal(await sysctl(node, node.path, 'net/ipv6/conf/cni0/accept_ra'), '0', 'the bridge refuses RAs too');
    }));

  test('an ICMPv6 redirect spoofing the gateway does not reroute the victim', () =>
    withNode(async (node) => {
      if (!(await scapyAvailable(node))) return assert.fail('python3-scapy is missing: run scripts/install-deps.sh');
      const { victim1, attacker } = await bridgeWithAttacker(node);
      // The kernel takes a redirect only from the first hop of the redirected destination, and
      // only from a link-local source: a route via the gateway's link-local address (as a pod
      // that found its router by neighbour discovery has) is what an attacker can hijack.
      await node.exec(['ip', '-6', 'route', 'add', '2001:db8:1::/64', 'via', GATEWAY_LL, 'dev', 'eth0'], victim1);
      const before = await routeGet(node, victim1, FAR6);
      assert.match(before, new RegExp(`via ${GATEWAY_LL} dev eth0`));
      await attack(node, attacker, ['redirect6', 'fd00:95::2', await mac(node, victim1), GATEWAY_LL, ATTACKER_LL, FAR6]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await routeGet(node, victim1, FAR6), before);
    }));

  test('an ICMPv4 redirect spoofing the gateway leaves no route exception in the victim', () =>
    withNode(async (node) => {
      if (!(await scapyAvailable(node))) return assert.fail('python3-scapy is missing: run scripts/install-deps.sh');
      const { victim1, attacker } = await bridgeWithAttacker(node);
      assert.equal(await node.ping(attacker, '10.95.0.2'), true, 'the victim knows the attacker\'s MAC (a redirect needs it)');
      const before = await routeGet(node, victim1, FAR4);
      assert.match(before, new RegExp(`via ${GATEWAY4} dev eth0`));
      await attack(node, attacker, ['redirect4', '10.95.0.2', await mac(node, victim1), GATEWAY4, '10.95.0.4', FAR4]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await routeGet(node, victim1, FAR4), before);
      assert.equal((await node.exec(['ip', 'route', 'show', 'cache'], victim1)).stdout.trim(), '', 'no cached exception');
      assert.deepEqual(await Promise.all(['all', 'eth0'].map((dev) => sysctl(node, victim1, `net/ipv4/conf/${dev}/accept_redirects`))), ['0', '0']);
    }));

  test('after every attack, legitimate traffic still flows: both families, ARP and neighbour discovery', () =>
    withNode(async (node) => {
      if (!(await scapyAvailable(node))) return assert.fail('python3-scapy is missing: run scripts/install-deps.sh');
      const { victim1, victim2, attacker } = await bridgeWithAttacker(node);
      await attack(node, attacker, ['ra', ATTACKER_LL]);
      await attack(node, attacker, ['redirect4', '10.95.0.2', await mac(node, victim1), GATEWAY4, '10.95.0.4', FAR4]);
      for (const [from, to] of [[victim1, '10.95.0.3'], [victim2, '10.95.0.2'], [victim1, 'fd00:95::3'], [victim2, 'fd00:95::2'], [victim1, GATEWAY4], [victim1, 'fd00:95::1']] as const) {
        assert.equal(await node.ping(from, to), true, `ping ${to}`);
      }
      const victim2Mac = await mac(node, victim2);
      const neighbours = async (family: string) => (await node.ipJson([family, 'neigh', 'show', 'dev', 'eth0'], victim1)).filter((n) => n.lladdr);
      assert.ok((await neighbours('-4')).some((n) => n.dst === '10.95.0.3' && n.lladdr === victim2Mac), 'ARP resolved victim2');
      assert.ok((await neighbours('-6')).some((n) => n.dst === 'fd00:95::3'), 'ND resolved victim2');
    }));
});
