// A hostile pod on the bridge (issue 17): two victim pods and an attacker pod, dual-stack, made by
// the built plugin as a runtime makes them. The attacker crafts its packets with scapy inside its
// own namespace (root has CAP_NET_RAW, as a container has by default) and tries what any pod
// could. First, reconfiguring its neighbours: an IPv6 router advertisement to every node on the
// bridge, and ICMPv6 and ICMPv4 redirects to a victim with the gateway's address as source: each
// must change nothing in the victims (the sysctls ADD sets in the pod: cni/plan.ts). Then, on one
// shared node with a host beyond it, impersonating them and serving them: spoofed source
// addresses, ARP and neighbour advertisement claims, another pod's MAC, DHCP servers, RAs and
// redirects at the bridge: nothing spoofed may arrive anywhere (scapy captures that end on a
// marker), and the neighbour tables and the bridge's FDB stay as they were (the anti-spoofing
// table on the bridge: lib/antispoof/ruleset.ts). Last, ordinary traffic still flows: both
// families, ARP and ND, a pod added afterwards, and kube-proxy's hairpin.
// Every namespace is the lab's (a unique prefix, removed in finally); nothing touches the root
// namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { linkLocalFromMac } from '../../lib/antispoof/ruleset.ts';
import { formatIp } from '../../lib/cidr.ts';
import { installKubeProxy, probeHairpin } from '../support/kube-proxy.ts';
import { poll } from '../support/poll.ts';
import { skipUnlessRoot, withNode, TestNode } from './harness.ts';
import { attack, capture, marker, scapyAvailable, tagged, twice, type Frame } from './hostile-pod.ts';

const V4 = '10.95.0.0/24';
const V6 = 'fd00:95::/64';
const GATEWAY4 = '10.95.0.1';
const GATEWAY6 = 'fd00:95::1';
/** The bridge's link-local address (cni/plan.ts), the first hop a victim's route below names. */
const GATEWAY_LL = 'fe80::1';
/** The source the attacker claims as a router: any link-local address will do for the kernel. */
const ATTACKER_LL = 'fe80::bad:1';
/** Destinations outside the pod network whose routing the redirects try to take over. */
const FAR4 = '203.0.113.9';
const FAR6 = '2001:db8:1::9';
/** Sources no pod on this node has: outside the pod range, and a global IPv6 address. */
const ARBITRARY4 = '10.66.0.9';
const ARBITRARY6 = '2001:db8:66::9';
/** A host beyond the node (outsideHost) and the node's own address on the link to it. */
const OUTSIDE = { ipv4: '198.51.100.2', ipv6: '2001:db8:51::2', nodeIpv4: '198.51.100.1', nodeIpv6: '2001:db8:51::1' } as const;
/** The "Services" of the hairpin test: kube-proxy-like ClusterIPs, one per family, of victim1 and of a pod with hairpin off. */
const SERVICE = { ipv4: '10.96.0.10', ipv6: 'fd00:96::10' } as const;
const NO_HAIRPIN_SERVICE = { ipv4: '10.96.0.11', ipv6: 'fd00:96::11' } as const;

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


/** The ADD every pod of this file gets: the plugin's own, which guards the pod's port (antiSpoofing is on by default). */
function addPod(node: TestNode, netns: string, containerId: string, conf: object): Promise<Record<string, any>> {
  return node.add(netns, containerId, conf);
}

/** One pod of the bridge: its namespace and what ADD said about it. */
interface Pod {
  netns: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  /** Its host veth: the bridge port its frames enter by. */
  port: string;
}

function podOf(netns: string, result: Record<string, any>): Pod {
  const address = (family: string) => (result.ips as { address: string }[]).map((ip) => ip.address.split('/')[0]!).find((a) => a.includes(family))!;
  return { netns, ipv4: address('.'), ipv6: address(':'), mac: result.interfaces[2].mac, port: result.interfaces[1].name };
}

/**
 * The node, two victims (.2, .3) and an attacker (.4) on one bridge, dual-stack, with the
 * plugin's defaults: anti-spoofing and hairpin on.
 */
async function bridgeWithAttacker(node: TestNode) {
  const conf = node.conf({ ipam: { ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] } });
  const [victim1, victim2, attacker] = [await node.pod(), await node.pod(), await node.pod()];
  const results: Record<string, any>[] = [];
  for (const [i, pod] of [victim1!, victim2!, attacker!].entries()) results.push(await addPod(node, pod, `c${i}`, conf));
  const pods = [victim1!, victim2!, attacker!].map((netns, i) => podOf(netns, results[i]!));
  return {
    conf,
    victim1: victim1!, victim2: victim2!, attacker: attacker!, victims: [victim1!, victim2!],
    pods: { victim1: pods[0]!, victim2: pods[1]!, attacker: pods[2]! },
    /** The bridge's MAC, the pods' gateway's. */
    bridgeMac: results[0]!.interfaces[0].mac as string,
  };
}

/** For each of `addresses`, the MAC the neighbour table of `netns` maps it to on `dev` (undefined: no entry). */
async function neighbours(node: TestNode, netns: string, dev: string, addresses: string[]): Promise<Record<string, string | undefined>> {
  const entries = await node.ipJson(['neigh', 'show', 'dev', dev], netns);
  return Object.fromEntries(addresses.map((address) => [address, entries.find((n) => n.dst === address && n.lladdr)?.lladdr]));
}

/** The ports of the node's bridge on which its forwarding table has learnt `mac` (its own entries aside). */
async function learntOn(node: TestNode, mac: string): Promise<string[]> {
  const fdb = JSON.parse((await node.exec(['bridge', '-j', 'fdb', 'show', 'br', 'cni0'])).stdout || '[]') as any[];
  return fdb.filter((e) => e.mac === mac && e.state !== 'permanent').map((e) => e.ifname).sort();
}

/**
 * A host beyond the node: a namespace on a veth from the node (the node's eth0, its uplink). The
 * node forwards, routes by default to that host, and checks reverse paths loosely, as many
 * distributions set it (systemd's 50-default.conf): so neither a missing route nor the node's own
 * rp_filter is what stops a spoofed packet here. No agent runs, so nothing is masqueraded: the
 * outside host sees the source address the pod wrote.
 */
async function outsideHost(node: TestNode): Promise<string> {
  const name = await node.lab.addNamespace('out', { loopbackUp: true });
  const outside = node.lab.netnsPath(name);
  await node.lab.addVeth({ netns: node.name, name: 'eth0' }, { netns: name, name: 'eth0', address: `${OUTSIDE.ipv4}/24` });
  await node.exec(['ip', 'addr', 'add', `${OUTSIDE.ipv6}/64`, 'dev', 'eth0', 'nodad'], outside);
  for (const argv of [
    ['ip', 'addr', 'add', `${OUTSIDE.nodeIpv4}/24`, 'dev', 'eth0'],
    ['ip', 'addr', 'add', `${OUTSIDE.nodeIpv6}/64`, 'dev', 'eth0', 'nodad'],
    // The kernel solicits a forwarded packet's next hop from a link-local address out of DAD only.
    ['ip', 'addr', 'add', 'fe80::51:1/64', 'dev', 'eth0', 'nodad'],
    ['ip', 'route', 'add', 'default', 'via', OUTSIDE.ipv4],
    ['ip', '-6', 'route', 'add', 'default', 'via', OUTSIDE.ipv6],
    ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.conf.all.rp_filter=2'],
  ]) {
    await node.exec(argv);
  }
  return outside;
}

describe('a hostile pod cannot reconfigure its neighbours', { skip: skipUnlessRoot }, () => {
  test('an IPv6 router advertisement to ff02::1 gives no victim, nor the node, a route or an address', () =>
    withNode(async (node) => {
      if (!(await scapyAvailable(node))) return assert.fail('python3-scapy is missing: run scripts/install-deps.sh');
      const { attacker, victims } = await bridgeWithAttacker(node);
      const before = await Promise.all([...victims, node.path].map((ns) => routingState(node, ns)));
      await attack(node, attacker, ...twice(['ra', ATTACKER_LL]));
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
      await attack(node, attacker, ...twice(['redirect6', 'fd00:95::2', await mac(node, victim1), GATEWAY_LL, ATTACKER_LL, FAR6]));
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
      await attack(node, attacker, ...twice(['redirect4', '10.95.0.2', await mac(node, victim1), GATEWAY4, '10.95.0.4', FAR4]));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await routeGet(node, victim1, FAR4), before);
      assert.equal((await node.exec(['ip', 'route', 'show', 'cache'], victim1)).stdout.trim(), '', 'no cached exception');
      assert.deepEqual(await Promise.all(['all', 'eth0'].map((dev) => sysctl(node, victim1, `net/ipv4/conf/${dev}/accept_redirects`))), ['0', '0']);
    }));
});

describe('a hostile pod cannot impersonate its neighbours', { skip: skipUnlessRoot }, () => {
  // One node for all of these: with the protection in place no attack changes anything another
  // one depends on, and each test checks its own part of the state.
  let node: TestNode | undefined;
  let lan: Awaited<ReturnType<typeof bridgeWithAttacker>>;
  let outside: string;
  before(async () => {
    node = await TestNode.create();
    if (!(await scapyAvailable(node))) throw new Error('python3-scapy is missing: run scripts/install-deps.sh');
    lan = await bridgeWithAttacker(node);
    outside = await outsideHost(node);
    // Every neighbour entry and FDB entry an attack below goes after exists before it, and the
    // node has resolved the outside host (a packet queued on resolution could pass a marker).
    const { victim1, victim2, attacker } = lan.pods;
    const pairs = [victim1, victim2, attacker].flatMap((from) =>
      [...[victim1, victim2, attacker].filter((to) => to !== from).flatMap((to) => [to.ipv4, to.ipv6]), GATEWAY4, GATEWAY6].map((to) => [from.netns, to] as const));
    for (const [from, to] of [...pairs, [node.path, OUTSIDE.ipv4], [node.path, OUTSIDE.ipv6]] as const) {
      assert.equal(await node.ping(from, to), true, `before any attack, ${from} reaches ${to}`);
    }
  });
  after(async () => node?.cleanup());

  test('IPv4 and IPv6 packets with another pod\'s, the gateway\'s or an arbitrary source reach neither a victim nor a host beyond the node', async () => {
    const { victim1, victim2, attacker } = lan.pods;
    const m = { victim4: marker('v4'), victim6: marker('v6'), outside4: marker('outside v4'), outside6: marker('outside v6') };
    const [atVictim, atOutside] = await Promise.all([capture(node!, victim1.netns, [m.victim4, m.victim6]), capture(node!, outside, [m.outside4, m.outside6])]);
    const spoofed = (dstMac: string, dst: string, sources: string[]) => sources.map((src) => ['udp', dstMac, src, dst, `spoof from ${src}`]);
    await attack(node!, attacker.netns,
      ...spoofed(victim1.mac, victim1.ipv4, [victim2.ipv4, GATEWAY4, ARBITRARY4]),
      ...spoofed(victim1.mac, victim1.ipv6, [victim2.ipv6, GATEWAY6, ARBITRARY6]),
      ...spoofed(lan.bridgeMac, OUTSIDE.ipv4, [victim1.ipv4, ARBITRARY4]),
      ...spoofed(lan.bridgeMac, OUTSIDE.ipv6, [victim1.ipv6, ARBITRARY6]),
      ['udp', victim1.mac, attacker.ipv4, victim1.ipv4, m.victim4],
      ['udp', victim1.mac, attacker.ipv6, victim1.ipv6, m.victim6],
      ['udp', lan.bridgeMac, attacker.ipv4, OUTSIDE.ipv4, m.outside4],
      ['udp', lan.bridgeMac, attacker.ipv6, OUTSIDE.ipv6, m.outside6],
    );
    const arrived = { atVictim: tagged(await atVictim.frames(), 'spoof'), beyondTheNode: tagged(await atOutside.frames(), 'spoof') };
    assert.deepEqual(arrived, { atVictim: [], beyondTheNode: [] }, 'no spoofed packet arrived anywhere');
  });
  /**
   * The neighbour tables of both victims and of the node (on cni0), for the addresses an attacker
   * would claim: each must name its owner's MAC, before the attack and after it.
   */
  async function claimedTables(family: 'ipv4' | 'ipv6') {
    const { victim1, victim2 } = lan.pods;
    const gateway = family === 'ipv4' ? GATEWAY4 : GATEWAY6;
    return {
      victim1: await neighbours(node!, victim1.netns, 'eth0', [gateway, victim2[family]]),
      victim2: await neighbours(node!, victim2.netns, 'eth0', [gateway, victim1[family]]),
      node: await neighbours(node!, node!.path, 'cni0', [victim1[family], victim2[family]]),
    };
  }
  function rightTables(family: 'ipv4' | 'ipv6') {
    const { victim1, victim2 } = lan.pods;
    const gateway = family === 'ipv4' ? GATEWAY4 : GATEWAY6;
    return {
      victim1: { [gateway]: lan.bridgeMac, [victim2[family]]: victim2.mac },
      victim2: { [gateway]: lan.bridgeMac, [victim1[family]]: victim1.mac },
      node: { [victim1[family]]: victim1.mac, [victim2[family]]: victim2.mac },
    };
  }

  test('ARP replies claiming the gateway\'s or another victim\'s IPv4 leave every neighbour table as it was', async () => {
    const { victim1, victim2, attacker } = lan.pods;
    assert.deepEqual(await claimedTables('ipv4'), rightTables('ipv4'), 'before the attack');
    // Gratuitous replies to everyone (the kernel overrides even a fresh entry for those), and
    // replies aimed at one victim, each claim with the attacker's MAC.
    await attack(node!, attacker.netns, ...twice(
      ['garp', GATEWAY4], ['garp', victim1.ipv4], ['garp', victim2.ipv4],
      ['arp-reply', GATEWAY4, victim1.ipv4, victim1.mac], ['arp-reply', victim2.ipv4, victim1.ipv4, victim1.mac],
    ));
    assert.deepEqual(await claimedTables('ipv4'), rightTables('ipv4'), 'after the attack');
  });

  test('unsolicited neighbour advertisements claiming the gateway\'s or another victim\'s IPv6 leave every neighbour table as it was', async () => {
    const { victim1, victim2, attacker } = lan.pods;
    assert.deepEqual(await claimedTables('ipv6'), rightTables('ipv6'), 'before the attack');
    // To ff02::1 with the override flag, from the attacker's own address and from the claimed one.
    const claims = [GATEWAY6, victim1.ipv6, victim2.ipv6].flatMap((claimed) => [['na', attacker.ipv6, claimed], ['na', claimed, claimed]]);
    await attack(node!, attacker.netns, ...twice(...claims));
    assert.deepEqual(await claimedTables('ipv6'), rightTables('ipv6'), 'after the attack');
  });
  test('neighbour advertisements sent to one victim (or the node) alone, solicited or not, claiming the gateway\'s or another victim\'s IPv6 leave every neighbour table as it was', async () => {
    const { victim1, victim2, attacker } = lan.pods;
    assert.deepEqual(await claimedTables('ipv6'), rightTables('ipv6'), 'before the attack');
    // Unicast to each holder of an entry worth poisoning: each victim (for the gateway and the
    // other victim) and the node on cni0 (for both victims), at its MAC and address.
    const aims = [
      { to: victim1.ipv6, mac: victim1.mac, claims: [GATEWAY6, victim2.ipv6] },
      { to: victim2.ipv6, mac: victim2.mac, claims: [GATEWAY6, victim1.ipv6] },
      { to: GATEWAY6, mac: lan.bridgeMac, claims: [victim1.ipv6, victim2.ipv6] },
    ];
    const claims = aims.flatMap(({ to, mac, claims }) => claims.flatMap((claimed) =>
      [attacker.ipv6, claimed].flatMap((src) => ['0', '1'].map((solicited) => ['na-to', src, claimed, to, mac, solicited]))));
    await attack(node!, attacker.netns, ...twice(...claims));
    assert.deepEqual(await claimedTables('ipv6'), rightTables('ipv6'), 'after the attack');
  });
  test('frames with another victim\'s MAC leave that MAC on its own bridge port, and its traffic still reaches it', async () => {
    const { victim1, victim2, attacker } = lan.pods;
    assert.deepEqual(await learntOn(node!, victim2.mac), [victim2.port], 'before the attack');
    // Broadcast and unicast, and with victim2's addresses too: all of victim2 but its port.
    await attack(node!, attacker.netns, ...twice(
      ['as-mac', victim2.mac, 'ff:ff:ff:ff:ff:ff', victim2.ipv4, '10.95.0.255', 'as victim2'],
      ['as-mac', victim2.mac, victim1.mac, victim2.ipv4, victim1.ipv4, 'as victim2'],
      ['as-mac', victim2.mac, victim1.mac, victim2.ipv6, victim1.ipv6, 'as victim2'],
    ));
    assert.deepEqual(await learntOn(node!, victim2.mac), [victim2.port], 'after the attack, not the attacker\'s port ' + attacker.port);
    for (const to of [victim2.ipv4, victim2.ipv6]) assert.equal(await node!.ping(victim1.netns, to), true, `victim1 still reaches victim2 at ${to}`);
  });
  /** The attacker's markers to victim1, both families: a capture there ends once both are in. */
  function markersToVictim1() {
    const { victim1, attacker } = lan.pods;
    const [v4, v6] = [marker('v4'), marker('v6')];
    return { markers: [v4, v6], frames: [['udp', victim1.mac, attacker.ipv4, victim1.ipv4, v4], ['udp', victim1.mac, attacker.ipv6, victim1.ipv6, v6]] };
  }
  const describeFrame = (f: Frame) => `${f.src} -> ${f.dst} (${f.dmac})${f.sport ? ` udp ${f.sport}->${f.dport}` : ''}${f.icmp !== undefined ? ` icmp ${f.icmp}` : ''}${f.icmp6 !== undefined ? ` icmpv6 ${f.icmp6}` : ''}`;

  test('a DHCPv4 offer and a DHCPv6 advertise from a pod reach no victim', async () => {
    const { victim1, attacker } = lan.pods;
    const attackerLinkLocal = formatIp(linkLocalFromMac(attacker.mac));
    const end = markersToVictim1();
    const atVictim = await capture(node!, victim1.netns, end.markers);
    // Each to everyone and to victim1 alone, from the attacker's own addresses: only the server
    // port gives them away.
    await attack(node!, attacker.netns,
      ['dhcp4-offer', 'ff:ff:ff:ff:ff:ff', attacker.ipv4, '255.255.255.255', victim1.mac],
      ['dhcp4-offer', victim1.mac, attacker.ipv4, victim1.ipv4, victim1.mac],
      ['dhcp6-advertise', '33:33:00:01:00:02', attackerLinkLocal, 'ff02::1:2'],
      ['dhcp6-advertise', victim1.mac, attackerLinkLocal, victim1.ipv6],
      ...end.frames,
    );
    const servers = (await atVictim.frames()).filter((f) => f.sport === 67 || f.sport === 547).map(describeFrame);
    assert.deepEqual(servers, [], 'no DHCP server traffic arrived');
  });

  test('router advertisements and ICMP and ICMPv6 redirects from a pod do not even reach a victim', async () => {
    const { victim1, attacker } = lan.pods;
    const end = markersToVictim1();
    const atVictim = await capture(node!, victim1.netns, end.markers);
    await attack(node!, attacker.netns,
      ['ra', ATTACKER_LL],
      ['redirect4', victim1.ipv4, victim1.mac, GATEWAY4, attacker.ipv4, FAR4],
      ['redirect6', victim1.ipv6, victim1.mac, GATEWAY_LL, ATTACKER_LL, FAR6],
      ...end.frames,
    );
    const routers = (await atVictim.frames()).filter((f) => f.icmp === 5 || f.icmp6 === 134 || f.icmp6 === 137).map(describeFrame);
    assert.deepEqual(routers, [], 'the bridge delivered no RA and no redirect');
  });
  // The tests below run last: they check that none of the attacks above broke anything.
  test('after every attack, legitimate traffic still flows: both families between all pods and to the gateway, resolved afresh by ARP and ND', async () => {
    const { victim1, victim2, attacker } = lan.pods;
    const pods = [victim1, victim2, attacker];
    // Forget what was resolved before the attacks: resolution itself must still work.
    for (const pod of pods) await node!.exec(['ip', 'neigh', 'flush', 'dev', 'eth0'], pod.netns);
    for (const from of pods) {
      for (const to of [...pods.filter((p) => p !== from).flatMap((p) => [p.ipv4, p.ipv6]), GATEWAY4, GATEWAY6]) {
        assert.equal(await node!.ping(from.netns, to), true, `${from.ipv4} reaches ${to}`);
      }
    }
    const right = Object.fromEntries([[GATEWAY4, lan.bridgeMac], [GATEWAY6, lan.bridgeMac], ...[victim2, attacker].flatMap((p) => [[p.ipv4, p.mac], [p.ipv6, p.mac]])]);
    assert.deepEqual(await neighbours(node!, victim1.netns, 'eth0', Object.keys(right)), right, 'ARP and ND in victim1 resolved each address to its owner');
  });

  test('a pod added after the attacks passes DAD and reaches its neighbours and the gateway, both families', async () => {
    const { victim1 } = lan.pods;
    const netns = await node!.pod();
    const late = podOf(netns, await addPod(node!, netns, 'c-late', lan.conf));
    await poll(async () => (await node!.exec(['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'tentative'], netns)).stdout === '', { what: 'DAD of the new pod\'s addresses' });
    assert.equal((await node!.exec(['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'dadfailed'], netns)).stdout, '', 'no address failed DAD');
    for (const to of [victim1.ipv4, victim1.ipv6, GATEWAY4, GATEWAY6]) assert.equal(await node!.ping(netns, to), true, `the new pod reaches ${to}`);
    for (const to of [late.ipv4, late.ipv6]) assert.equal(await node!.ping(victim1.netns, to), true, `victim1 reaches the new pod at ${to}`);
  });

  test('hairpin (the default): a pod reaches itself through a kube-proxy-like DNAT in the node, masqueraded, both families; with "hairpinMode": false it gets no answer', async () => {
    const { victim1 } = lan.pods;
    const netns = await node!.pod();
    const loner = podOf(netns, await addPod(node!, netns, 'c-no-hairpin', { ...lan.conf, hairpinMode: false }));
    // kube-proxy's node: bridged traffic goes through iptables (br_netfilter, per namespace). A
    // connection DNATed back to the pod it came from is then bridged back out of the port it
    // came in by (br_nf_pre_routing_finish), which only the port's hairpin mode allows.
    const services = (family: 'ipv4' | 'ipv6') => [
      { name: 'HAIRPIN', clusterIp: SERVICE[family], endpoint: victim1[family] },
      { name: 'NOHAIRPIN', clusterIp: NO_HAIRPIN_SERVICE[family], endpoint: loner[family] },
    ];
    await installKubeProxy(node!.path, { ipv4: services('ipv4'), ipv6: services('ipv6') });
    // The server saw the node's address: the connection went through the masquerade mark.
    assert.deepEqual(await probeHairpin(victim1.netns, [[victim1.ipv4, SERVICE.ipv4], [victim1.ipv6, SERVICE.ipv6]]),
      [{ peer: GATEWAY4, exchanged: 'pingpong' }, { peer: GATEWAY6, exchanged: 'pingpong' }]);
    // The same rules for a pod whose port has hairpin off: the bridge drops the DNATed frame.
    const toItself: [string, string][] = [[loner.ipv4, NO_HAIRPIN_SERVICE.ipv4], [loner.ipv6, NO_HAIRPIN_SERVICE.ipv6]];
    assert.deepEqual(await probeHairpin(loner.netns, toItself, 2), [{ error: 'timed out' }, { error: 'timed out' }]);
    assert.ok(await node!.ping(loner.netns, victim1.ipv4) && await node!.ping(loner.netns, victim1.ipv6), 'it reaches its neighbour: only the way back to itself is shut');
    // Its port's hairpin alone was the difference.
    await node!.exec(['ip', 'link', 'set', loner.port, 'type', 'bridge_slave', 'hairpin', 'on']);
    assert.deepEqual(await probeHairpin(loner.netns, toItself), [{ peer: GATEWAY4, exchanged: 'pingpong' }, { peer: GATEWAY6, exchanged: 'pingpong' }]);
  });
});
