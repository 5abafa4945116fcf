// The doctor's checks are pure functions of gathered facts: a healthy node's facts, then one
// fault at a time, and the finding that must name it at the right severity.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { antispoofRuleset, attachmentElements } from '../../../../lib/antispoof/ruleset.ts';
import { parseCidr, parseIp, type IpCidr } from '../../../../lib/cidr.ts';
import { checkAntispoof } from '../../../../daemonset/doctor/checks/antispoof.ts';
import { deriveContext } from '../../../../daemonset/doctor/checks/context.ts';
import { renderConflist } from '../../../../daemonset/conflist/render.ts';
import { runChecks } from '../../../../daemonset/doctor/checks/index.ts';
import type { DoctorFacts } from '../../../../daemonset/doctor/facts.ts';
import type { Finding } from '../../../../daemonset/doctor/finding.ts';
import { makeReport, renderJson, renderText } from '../../../../daemonset/doctor/render.ts';
import { OWNED_CHAINS, planIptables } from '../../../../daemonset/iptables/plan.ts';
import { planSteeringFlows } from '../../../../daemonset/ovs/steering.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION, hostVethName } from '../../../../lib/names.ts';

const cidr = (t: string) => parseCidr(t)!;
const CLUSTER = cidr('10.244.0.0/16');
const OWN = cidr('10.244.1.0/24');
const CLUSTER6 = parseCidr('fd00:10:244::/56')!;
const OWN6 = parseCidr('fd00:10:244:1::/64')!;

function iptablesSave(options: { randomFully?: boolean; drop?: string; policy?: string; kube?: boolean; cluster?: IpCidr; own?: IpCidr } = {}): string {
  const specs = planIptables({ clusterCIDR: options.cluster ?? CLUSTER, podCIDR: options.own ?? OWN, randomFully: options.randomFully ?? true });
  const lines: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    lines.push(`*${table}`);
    if (table === 'filter') lines.push(':INPUT ACCEPT [0:0]', `:FORWARD ${options.policy ?? 'ACCEPT'} [0:0]`, ':OUTPUT ACCEPT [0:0]');
    else lines.push(':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]');
    if (options.kube && table === 'nat') lines.push(':KUBE-SERVICES - [0:0]');
    for (const spec of specs.filter((s) => s.table === table)) {
      lines.push(`:${spec.chain} - [0:0]`, `-A ${spec.hook.chain} ${spec.hook.rule}`, ...spec.rules.map((r) => `-A ${spec.chain} ${r}`));
    }
    lines.push('COMMIT');
  }
  return lines.filter((l) => l !== options.drop).join('\n') + '\n';
}

const CONFLIST = '/etc/cni/net.d/10-bridgeway.conflist';
const conflistText = (overrides: { mtu?: number; podCIDR?: string; podCIDRs?: string[]; cniVersion?: string } = {}) => renderConflist({
  cniVersion: overrides.cniVersion ?? '1.1.0', podCIDR: overrides.podCIDRs ? overrides.podCIDRs.map((c) => parseCidr(c)!) : cidr(overrides.podCIDR ?? '10.244.1.0/24'), mtu: overrides.mtu ?? 1500, bridge: 'cni0', portmap: false,
  logLevel: 'info', dataDir: '/var/lib/cni/bridgeway', logFile: '/var/log/bridgeway/cni.log',
});

const live = { address: '10.244.1.2', family: 4 as const, containerId: 'c1', ifname: 'eth0', hostVeth: hostVethName('c1', 'eth0'), ageMs: 60_000 };

/** The MAC the plugin gives the live pod: 0a:58 + 10.244.1.2. */
const LIVE_MAC = '0a:58:0a:f4:01:02';

function healthy(): DoctorFacts {
  return {
    settings: { mode: 'standalone', nodeName: 'node-0', iface: 'eth1', clusterCIDRs: [CLUSTER], bridge: 'cni0' },
    nodes: {
      list: [
        { name: 'node-0', podCIDRs: ['10.244.1.0/24'], internalIPs: [], annotations: { [ETH1_ANNOTATION]: '192.168.50.10' } },
        { name: 'node-1', podCIDRs: ['10.244.2.0/24'], internalIPs: [], annotations: { [ETH1_ANNOTATION]: '192.168.50.11' } },
      ],
    },
    links: [
      { name: 'lo', mtu: 65536, up: true, ipv4: [cidr('127.0.0.1/8')] },
      { name: 'eth1', mtu: 1500, up: true, ipv4: [cidr('192.168.50.10/24')] },
      { name: 'cni0', mtu: 1500, up: true, ipv4: [cidr('10.244.1.1/24')] },
      { name: live.hostVeth, mtu: 1500, up: true, ipv4: [] },
    ],
    routes: [
      { dst: '192.168.50.0/24', dev: 'eth1', protocol: 'kernel', scope: 'link' },
      { dst: '10.244.2.0/24', gateway: '192.168.50.11', dev: 'eth1', protocol: '77' },
    ],
    sysctls: {
      'net.ipv4.ip_forward': '1',
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.conf.eth1.rp_filter': '0',
      'net.ipv4.conf.cni0.rp_filter': '0',
      'net.bridge.bridge-nf-call-iptables': '1',
    },
    iptables: { nft: iptablesSave(), legacy: '' },
    conflist: { path: CONFLIST, file: { text: conflistText() }, before: [] },
    plugin: { path: '/opt/cni/bin/bridgeway', source: '/usr/local/bin/bridgeway', installed: { size: 100, executable: true }, sameAsSource: true },
    ipam: { dir: '/var/lib/cni/bridgeway/bridgeway', reservations: [live] },
    // As the plugin leaves it once its ADD installs the table: the live pod's elements.
    antispoof: { sets: antispoofRuleset().sets.map((s) => s.name), elements: attachmentElements({ port: live.hostVeth, mac: LIVE_MAC, addresses: [parseIp(live.address)!] }) },
    networkManager: { running: false },
    policy: { enabled: true, table: { absent: 'table' }, features: { nfTables: true, conntrack: true } },
    uplinks: { bridges: [] },
    agent: { url: 'http://127.0.0.1:9099/readyz', status: 200, body: 'ok' },
  };
}

/** healthy() in Kubernetes mode, enforcing NetworkPolicy as the agent says in /readyz. */
function enforcing(): DoctorFacts {
  const facts = healthy();
  facts.settings.mode = 'kubernetes';
  facts.policy.table = { chains: 5, rules: 12, sets: 9, elements: 7, isolated: { ingress: 2, egress: 1 } };
  facts.agent.body = 'ok\nNetworkPolicy enforced: 3 policies, this node\'s pods isolated 2 ingress / 1 egress, 7 set elements\n';
  return facts;
}

const problems = (findings: Finding[]) => findings.filter((f) => f.severity !== 'OK');

test('a healthy node: every finding OK, and every area checked', () => {
  const findings = runChecks(healthy());
  assert.deepEqual(problems(findings), []);
  const areas = new Set(findings.map((f) => f.check));
  for (const area of ['agent', 'node', 'sysctl', 'interface', 'mtu', 'route', 'iptables', 'antispoof', 'conflist', 'plugin', 'ipam', 'networkmanager']) assert.ok(areas.has(area), area);
  assert.ok(findings.some((f) => f.object === 'net.ipv4.ip_forward'));
  assert.ok(findings.some((f) => f.object === 'route 10.244.2.0/24 via 192.168.50.11 dev eth1'));
});

test('an Open vSwitch node: br_netfilter is not asked for, our usual chains, NetworkPolicy on same-node traffic judged by our steering flows', () => {
  const facts = healthy();
  facts.settings.bridgeType = 'ovs';
  facts.sysctls['net.bridge.bridge-nf-call-iptables'] = undefined;
  facts.iptables = { nft: iptablesSave(), legacy: '' };
  const socket = '/run/openvswitch/cni0.mgmt';
  facts.policy.steering = { socket, error: `the Open vSwitch bridge's OpenFlow socket ${socket} does not exist (no such bridge, or ovs-vswitchd is not running)` };
  const findings = runChecks(facts);
  assert.deepEqual(problems(findings), []);
  assert.match(findings.find((f) => f.object === 'net.bridge.bridge-nf-call-iptables')!.detail, /^not used: the pods' switch is Open vSwitch/);
  facts.antispoof = { absent: 'table' };
  assert.match(runChecks(facts).find((f) => f.check === 'antispoof')!.detail, /^not expected: the pods' switch is Open vSwitch/, 'no table on OVS, with a pod here: not a FAIL');

  Object.assign(facts, enforcing());
  facts.settings.bridgeType = 'ovs';
  const mac = '52:c5:9b:97:0c:4b';
  const wanted = planSteeringFlows({ podCIDRs: [cidr('10.244.1.0/24')], localMac: mac }).map((f) => f.add.cookie);
  const object = 'NetworkPolicy on same-node traffic (OpenFlow flows on cni0)';
  const judged = (steering: NonNullable<DoctorFacts['policy']['steering']>) => {
    facts.policy.steering = steering;
    return runChecks(facts).filter((f) => f.check === 'policy' && f.object === object);
  };
  const [inPlace] = judged({ socket, localMac: mac, cookies: wanted });
  assert.equal(inPlace!.severity, 'OK');
  assert.match(inPlace!.detail, /2 flows in place: pod-to-pod traffic of this node is routed through the node/);
  assert.deepEqual(problems(runChecks(facts)).filter((f) => f.check === 'policy'), []);
  const [missing] = judged({ socket, localMac: mac, cookies: wanted.slice(1) });
  assert.equal(missing!.severity, 'FAIL');
  assert.match(missing!.detail, /1 of 2 flows missing: pod-to-pod traffic of this node is switched by Open vSwitch past table inet bridgeway_policy/);
  const [otherMac] = judged({ socket, localMac: '52:c5:9b:97:0c:4c', cookies: wanted });
  assert.equal(otherMac!.severity, 'FAIL', 'flows rewriting to another MAC are not ours to count');
  const [unreadable] = judged({ socket, error: `the Open vSwitch bridge's OpenFlow socket ${socket} did not answer a flow statistics request within 3000 ms` });
  assert.equal(unreadable!.severity, 'FAIL');
});

type Fault = [name: string, inject: (f: DoctorFacts) => void, severity: 'WARN' | 'FAIL', object: RegExp, detail: RegExp, fix?: RegExp];

const faults: Fault[] = [
  ['the agent is not running', (f) => { f.agent = { url: f.agent.url, error: 'ECONNREFUSED' }; }, 'FAIL', /^agent http:\/\/127\.0\.0\.1:9099\/readyz$/, /not answering \(ECONNREFUSED\)/, /start bridgeway-agent/],
  ['the agent is not ready', (f) => { f.agent = { url: f.agent.url, status: 503, body: 'node node-0 has no IPv4 podCIDR yet' }; }, 'FAIL', /^agent /, /not ready \(HTTP 503\): node node-0 has no IPv4 podCIDR yet/],
  ['ip_forward off', (f) => { f.sysctls['net.ipv4.ip_forward'] = '0'; }, 'FAIL', /^net\.ipv4\.ip_forward$/, /^0:/, /sysctl -w net\.ipv4\.ip_forward=1/],
  ['the interface missing', (f) => { f.links = f.links.filter((l) => l.name !== 'eth1'); }, 'FAIL', /^eth1$/, /not found \(have: lo, cni0, bw/, /--iface/],
  ['the interface down', (f) => { f.links.find((l) => l.name === 'eth1')!.up = false; }, 'FAIL', /^eth1$/, /down/, /ip link set eth1 up/],
  ['the interface without an address', (f) => { f.links.find((l) => l.name === 'eth1')!.ipv4 = []; }, 'FAIL', /^eth1 address$/, /no IPv4 address/, /ip addr add .* dev eth1/],
  ['pods\' MTU above the interface\'s', (f) => { f.links.find((l) => l.name === 'eth1')!.mtu = 1400; }, 'FAIL', /^eth1 mtu 1400 vs conflist mtu 1500$/, /larger than eth1 carries/, /restart the agent/],
  ['pods\' MTU below the interface\'s', (f) => { f.conflist.file = { text: conflistText({ mtu: 1400 }) }; }, 'WARN', /^eth1 mtu 1500 vs conflist mtu 1400$/, /smaller MTU/],
  ['a route deleted', (f) => { f.routes = f.routes.filter((r) => r.protocol !== '77'); }, 'FAIL', /^route 10\.244\.2\.0\/24 via 192\.168\.50\.11 dev eth1$/, /missing: pods on node-1/, /ip route add 10\.244\.2\.0\/24 via 192\.168\.50\.11 dev eth1 proto 77/],
  ['a next hop changed', (f) => { f.routes[1]!.gateway = '192.168.50.99'; }, 'FAIL', /^route 10\.244\.2\.0\/24 via 192\.168\.50\.11 dev eth1$/, /wrong next hop: the kernel has via 192\.168\.50\.99 dev eth1 proto 77/, /ip route replace 10\.244\.2\.0\/24 via 192\.168\.50\.11/],
  ['a route of someone else\'s', (f) => { f.routes[1]!.protocol = 'static'; }, 'WARN', /^route 10\.244\.2\.0\/24/, /proto static, not ours/, /ip route del 10\.244\.2\.0\/24/],
  ['a stale route of ours', (f) => { f.routes.push({ dst: '10.244.9.0/24', gateway: '192.168.50.19', dev: 'eth1', protocol: '77' }); }, 'WARN', /^route 10\.244\.9\.0\/24 via 192\.168\.50\.19 dev eth1$/, /no peer has this podCIDR/],
  ['a peer off the segment', (f) => { (f.nodes as { list: any[] }).list[1].annotations[ETH1_ANNOTATION] = '172.30.0.5'; f.routes.pop(); }, 'FAIL', /^peer node-1$/, /172\.30\.0\.5 .* is not on eth1's subnet 192\.168\.50\.10\/24: all nodes must share one L2 segment/, /L2 segment/],
  ['a peer without a podCIDR', (f) => { (f.nodes as { list: any[] }).list[1].podCIDRs = []; f.routes.pop(); }, 'WARN', /^peer node-1$/, /no podCIDR yet/],
  ['rp_filter strict on the interface', (f) => { f.sysctls['net.ipv4.conf.eth1.rp_filter'] = '1'; }, 'WARN', /^net\.ipv4\.conf\.eth1\.rp_filter$/, /strict/, /rp_filter=2/],
  ['rp_filter strict on all', (f) => { f.sysctls['net.ipv4.conf.all.rp_filter'] = '1'; }, 'WARN', /^net\.ipv4\.conf\.all\.rp_filter$/, /strict, applies to every interface/, /net\.ipv4\.conf\.all\.rp_filter=2 net\.ipv4\.conf\.eth1\.rp_filter=2/],
  ['br_netfilter not loaded', (f) => { f.sysctls['net.bridge.bridge-nf-call-iptables'] = undefined; }, 'FAIL', /^net\.bridge\.bridge-nf-call-iptables$/, /^absent: br_netfilter is not loaded, .*a Service whose client and backend pods share this node gets no answer/, /^modprobe br_netfilter .*sysctl -w net\.bridge\.bridge-nf-call-iptables=1/],
  ['bridge-nf-call-iptables off', (f) => { f.sysctls['net.bridge.bridge-nf-call-iptables'] = '0'; }, 'FAIL', /^net\.bridge\.bridge-nf-call-iptables$/, /^0: pod-to-pod traffic on this node's bridge bypasses iptables: a Service whose client and backend pods share this node gets no answer/, /^sysctl -w net\.bridge\.bridge-nf-call-iptables=1, persisted in \/etc\/sysctl\.d\/$/],
  ['our chains in a backend kube-proxy does not use', (f) => { f.settings.forcedBackend = 'nft'; f.iptables.legacy = '*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n'; }, 'FAIL', /^iptables backend nft$/, /kube-proxy's KUBE-\* chains are in iptables-legacy/, /--iptables/],
  ['the FORWARD hook removed', (f) => { f.iptables.nft = iptablesSave({ drop: `-A FORWARD ${OWNED_CHAINS[0]!.hook.rule}` }); }, 'FAIL', /^iptables-nft filter FORWARD -j BRIDGEWAY-FORWARD$/, /the jump to BRIDGEWAY-FORWARD is missing/, /bridgeway-agent --once/],
  ['a rule missing from our chain', (f) => { f.iptables.nft = iptablesSave().replace(/^-A BRIDGEWAY-FORWARD -d .*\n/m, ''); }, 'FAIL', /^iptables-nft filter chain BRIDGEWAY-FORWARD$/, /incomplete: missing "-d 10\.244\.0\.0\/16/],
  ['our nat chain missing', (f) => { f.iptables.nft = iptablesSave().replace(/^(:|-A )BRIDGEWAY-POSTRTG.*\n/gm, ''); }, 'FAIL', /^iptables-nft nat chain BRIDGEWAY-POSTRTG$/, /^missing$/],
  ['FORWARD policy DROP without our hook', (f) => { f.iptables.nft = iptablesSave({ policy: 'DROP', drop: `-A FORWARD ${OWNED_CHAINS[0]!.hook.rule}` }); }, 'FAIL', /^iptables-nft filter FORWARD policy$/, /DROP, and our accept rules are not in place/],
  ['the conflist missing', (f) => { f.conflist.file = { missing: true }; }, 'FAIL', /^\/etc\/cni\/net\.d\/10-bridgeway\.conflist$/, /missing: the runtime reports the network not ready/],
  ['the conflist does not parse', (f) => { f.conflist.file = { text: '{"cniVersion": ' }; }, 'FAIL', /10-bridgeway\.conflist$/, /does not parse/],
  ['the conflist on another subnet', (f) => { f.conflist.file = { text: conflistText({ podCIDR: '10.244.7.0/24' }) }; }, 'FAIL', /10-bridgeway\.conflist subnet$/, /10\.244\.7\.0\/24, but the node's podCIDR is 10\.244\.1\.0\/24/],
  ['a cniVersion the runtime does not speak', (f) => { f.settings.mode = 'kubernetes'; (f.nodes as { list: any[] }).list[0].containerRuntimeVersion = 'containerd://1.7.22'; }, 'FAIL', /10-bridgeway\.conflist cniVersion$/, /1\.1\.0, which containerd:\/\/1\.7\.22 does not speak/, /BRIDGEWAY_CNI_VERSION=1\.0\.0/],
  ['another network config first', (f) => { f.conflist.before = ['/etc/cni/net.d/05-other.conf']; }, 'WARN', /^\/etc\/cni\/net\.d\/05-other\.conf$/, /sorts before/],
  ['the plugin missing', (f) => { delete f.plugin.installed; delete f.plugin.sameAsSource; }, 'FAIL', /^\/opt\/cni\/bin\/bridgeway$/, /missing: every pod start fails/],
  ['the plugin of another build', (f) => { f.plugin.sameAsSource = false; }, 'WARN', /^\/opt\/cni\/bin\/bridgeway$/, /differs from the agent's build \/usr\/local\/bin\/bridgeway/],
  ['a leaked address', (f) => { f.ipam.reservations.push({ address: '10.244.1.3', family: 4, containerId: 'gone', ifname: 'eth0', hostVeth: hostVethName('gone', 'eth0') }); }, 'WARN', /^address 10\.244\.1\.3$/, /container gone \(eth0\), whose host veth bw[0-9a-f]{12} is gone/, /bridgeway-agent doctor --fix-leaks/],
  ['NetworkManager managing cni0', (f) => { f.networkManager = { running: true, via: 'nmcli', devices: { eth1: 'connected', cni0: 'connected (externally)' } }; }, 'WARN', /^cni0$/, /managed by NetworkManager/, /unmanaged-devices=interface-name:cni0;interface-name:bw\*/],
  ['NetworkManager without our unmanaged-devices', (f) => { f.networkManager = { running: true, via: 'config', unmanaged: ['interface-name:docker0'] }; }, 'WARN', /^cni0, bw\*$/, /does not leave interface-name:cni0, interface-name:bw\* unmanaged/],
  ['no podCIDR for this node', (f) => { (f.nodes as { list: any[] }).list[0].podCIDRs = []; }, 'FAIL', /^node node-0 podCIDR$/, /no podCIDR: the agent waits/],
  ['this node not listed', (f) => { (f.nodes as { list: any[] }).list.shift(); }, 'FAIL', /^node node-0$/, /not in the nodes file/],
  ['the API server unreachable', (f) => { f.settings.mode = 'kubernetes'; f.nodes = { error: 'list nodes: ECONNREFUSED' }; f.kube = { server: 'https://10.0.0.1:6443', error: 'ECONNREFUSED', access: [] }; }, 'FAIL', /^API server https:\/\/10\.0\.0\.1:6443$/, /unreachable: ECONNREFUSED/, /kubeconfig/],
  ['NetworkPolicy: the table missing', (f) => { Object.assign(f, enforcing()); f.policy.table = { absent: 'table' }; }, 'FAIL', /^table inet bridgeway_policy$/, /missing: no NetworkPolicy is enforced/, /\/readyz/],
  ['NetworkPolicy: no conntrack', (f) => { Object.assign(f, enforcing()); f.policy.table = { absent: 'table' }; f.policy.features.conntrack = false; }, 'FAIL', /^kernel features$/, /missing: nf_conntrack/, /modprobe nf_tables nf_conntrack/],
  ['NetworkPolicy: bridge-nf-call-iptables off', (f) => { Object.assign(f, enforcing()); f.sysctls['net.bridge.bridge-nf-call-iptables'] = '0'; }, 'FAIL', /^NetworkPolicy on same-node traffic \(net\.bridge\.bridge-nf-call-iptables\)$/, /bypasses table inet bridgeway_policy: policies are enforced only across nodes/, /sysctl -w net\.bridge\.bridge-nf-call-iptables=1/],
  ['NetworkPolicy: a policy the agent cannot compile', (f) => { Object.assign(f, enforcing()); f.agent.body += 'NetworkPolicy x/bad cannot be compiled (isolates what it selects, allows nothing): spec.podSelector: bad\n'; }, 'WARN', /^x\/bad$/, /cannot be compiled/, /fix the policy/],
  ['NetworkPolicy: the agent could not apply', (f) => { Object.assign(f, enforcing()); f.agent.body += 'NetworkPolicy enforcement not ready: the last apply failed: nft: boom\n'; }, 'FAIL', /^agent$/, /the last apply failed: nft: boom/],
  ['NetworkPolicy off but the table left', (f) => { Object.assign(f, enforcing()); f.policy.enabled = false; }, 'WARN', /^table inet bridgeway_policy$/, /enforcement is off/, /nft delete table inet bridgeway_policy/],
  ['RBAC denies patch nodes/status', (f) => { f.settings.mode = 'kubernetes'; f.kube = { server: 's', access: [{ verb: 'list', resource: 'nodes', allowed: true }, { verb: 'patch', resource: 'nodes/status', allowed: false, reason: 'no RBAC policy matched' }] }; }, 'FAIL', /^RBAC patch nodes\/status$/, /denied: no RBAC policy matched/, /kubectl apply -f manifests\/bridgeway\.yaml/],
];

describe('one fault at a time: named, at its severity, with the fix', () => {
  for (const [name, inject, severity, object, detail, fix] of faults) {
    test(name, () => {
      const facts = healthy();
      inject(facts);
      const found = problems(runChecks(facts));
      const match = found.find((f) => object.test(f.object) && detail.test(f.detail));
      assert.ok(match, `no finding ${object} / ${detail} in:\n${found.map((f) => `${f.severity} ${f.object}: ${f.detail}`).join('\n')}`);
      assert.equal(match.severity, severity);
      assert.ok(match.fix, 'a WARN or FAIL says how to fix it');
      if (fix) assert.match(match.fix, fix);
    });
  }
});

/** healthy(), dual-stack: IPv6 on eth1, in both nodes' podCIDRs, the cluster CIDR and the routes. */
function healthyDualStack(): DoctorFacts {
  const facts = healthy();
  facts.settings.clusterCIDRs = [CLUSTER, CLUSTER6];
  const [self, peer] = (facts.nodes as { list: any[] }).list;
  self.podCIDRs.push('fd00:10:244:1::/64');
  self.annotations[ETH1_IPV6_ANNOTATION] = 'fd00:50::10';
  peer.podCIDRs.push('fd00:10:244:2::/64');
  peer.annotations[ETH1_IPV6_ANNOTATION] = 'fd00:50::11';
  facts.links.find((l) => l.name === 'eth1')!.ipv6 = [parseCidr('fd00:50::10/64')!];
  facts.routes.push({ dst: 'fd00:10:244:2::/64', gateway: 'fd00:50::11', dev: 'eth1', protocol: '77' });
  facts.sysctls['net.ipv6.conf.all.forwarding'] = '1';
  facts.sysctls['net.bridge.bridge-nf-call-ip6tables'] = '1';
  facts.ip6tables = { nft: iptablesSave({ cluster: CLUSTER6, own: OWN6 }), legacy: '' };
  facts.conflist.file = { text: conflistText({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] }) };
  return facts;
}

/** An IPv6-only node: IPv6 cluster CIDR, podCIDRs, routes and ip6tables; eth1 keeps an IPv4 address the agent does not use. */
function healthyIpv6Only(): DoctorFacts {
  const facts = healthyDualStack();
  facts.settings.clusterCIDRs = [CLUSTER6];
  for (const node of (facts.nodes as { list: any[] }).list) node.podCIDRs.shift();
  facts.routes = facts.routes.filter((r) => r.dst !== '10.244.2.0/24');
  facts.iptables = { nft: '', legacy: '' };
  facts.conflist.file = { text: conflistText({ podCIDRs: ['fd00:10:244:1::/64'] }) };
  return facts;
}

/** Faults only a cluster with IPv6 can have: the base facts, then the fault, then the finding. */
const ipv6Faults: [base: () => DoctorFacts, ...Fault][] = [
  [healthyDualStack, 'bridge-nf-call-ip6tables off', (f) => { f.sysctls['net.bridge.bridge-nf-call-ip6tables'] = '0'; }, 'FAIL', /^net\.bridge\.bridge-nf-call-ip6tables$/, /^0: pod-to-pod traffic on this node's bridge bypasses ip6tables/, /^sysctl -w net\.bridge\.bridge-nf-call-ip6tables=1/],
  [healthyIpv6Only, 'IPv6-only: br_netfilter not loaded', (f) => { f.sysctls['net.bridge.bridge-nf-call-ip6tables'] = undefined; }, 'FAIL', /^net\.bridge\.bridge-nf-call-ip6tables$/, /^absent: br_netfilter is not loaded/, /modprobe br_netfilter/],
  [healthyDualStack, 'the ip6tables FORWARD hook removed', (f) => { f.ip6tables!.nft = iptablesSave({ cluster: CLUSTER6, own: OWN6, drop: `-A FORWARD ${OWNED_CHAINS[0]!.hook.rule}` }); }, 'FAIL', /^ip6tables-nft filter FORWARD -j BRIDGEWAY-FORWARD$/, /the jump to BRIDGEWAY-FORWARD is missing/, /bridgeway-agent --once/],
  [healthyDualStack, 'our ip6tables nat chain missing', (f) => { f.ip6tables!.nft = iptablesSave({ cluster: CLUSTER6, own: OWN6 }).replace(/^(:|-A )BRIDGEWAY-POSTRTG.*\n/gm, ''); }, 'FAIL', /^ip6tables-nft nat chain BRIDGEWAY-POSTRTG$/, /^missing$/],
  [healthyDualStack, 'ip6tables without our chains at all', (f) => { f.ip6tables = { nft: '', legacy: '' }; }, 'FAIL', /^ip6tables-nft filter chain BRIDGEWAY-FORWARD$/, /^missing$/],
  [healthyDualStack, 'the conflist\'s IPv6 range on another subnet', (f) => { f.conflist.file = { text: conflistText({ podCIDRs: ['10.244.1.0/24', 'fd00:10:244:7::/64'] }) }; }, 'FAIL', /10-bridgeway\.conflist subnet$/, /fd00:10:244:7::\/64, but the node's podCIDR is 10\.244\.1\.0\/24, fd00:10:244:1::\/64/],
  [healthyIpv6Only, 'IPv6-only: the conflist on another subnet', (f) => { f.conflist.file = { text: conflistText({ podCIDRs: ['fd00:10:244:7::/64'] }) }; }, 'FAIL', /10-bridgeway\.conflist subnet$/, /fd00:10:244:7::\/64, but the node's podCIDR is fd00:10:244:1::\/64/],
  [healthyIpv6Only, 'IPv6-only: our ip6tables chains missing', (f) => { f.ip6tables = { nft: '', legacy: '' }; }, 'FAIL', /^ip6tables-nft nat chain BRIDGEWAY-POSTRTG$/, /^missing$/],
  [healthyIpv6Only, 'IPv6-only: kube-proxy in ip6tables-legacy decides the backend', (f) => { f.settings.forcedBackend = 'nft'; f.ip6tables!.legacy = '*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n'; }, 'FAIL', /^iptables backend nft$/, /kube-proxy's KUBE-\* chains are in iptables-legacy/, /--iptables/],
];

describe('with IPv6: ip6tables and every range of the conflist are checked, one fault at a time', () => {
  for (const [base, name, inject, severity, object, detail, fix] of ipv6Faults) {
    test(name, () => {
      const facts = base();
      inject(facts);
      const found = problems(runChecks(facts));
      const match = found.find((f) => object.test(f.object) && detail.test(f.detail));
      assert.ok(match, `no finding ${object} / ${detail} in:\n${found.map((f) => `${f.severity} ${f.object}: ${f.detail}`).join('\n')}`);
      assert.equal(match.severity, severity);
      if (fix) assert.match(match.fix!, fix);
    });
  }
});

test('IPv6-only: a healthy node is all OK: no IPv4 conflist warning, ip6tables checked in the backend the agent chooses from ip6tables', () => {
  const findings = runChecks(healthyIpv6Only());
  assert.deepEqual(problems(findings), []);
  assert.ok(findings.some((f) => f.object === `${CONFLIST} subnet` && f.detail === 'fd00:10:244:1::/64 = the node\'s podCIDR'));
  assert.ok(findings.some((f) => f.object === 'ip6tables-nft nat chain BRIDGEWAY-POSTRTG' && f.severity === 'OK'));
  assert.ok(!findings.some((f) => f.object.startsWith('iptables-nft ')), 'no IPv4 chains expected');
  assert.ok(findings.some((f) => f.object === 'node node-0 podCIDR' && f.detail === 'fd00:10:244:1::/64'));
});

test('dual-stack: IPv6 forwarding and IPv6 routes are checked, and a healthy node is all OK', () => {
  const findings = runChecks(healthyDualStack());
  assert.deepEqual(problems(findings), []);
  assert.ok(findings.some((f) => f.object === 'net.ipv6.conf.all.forwarding' && f.severity === 'OK'));
  assert.ok(findings.some((f) => f.object === 'route fd00:10:244:2::/64 via fd00:50::11 dev eth1' && f.severity === 'OK'));
  assert.ok(!runChecks(healthy()).some((f) => f.object === 'net.ipv6.conf.all.forwarding'), 'IPv4-only: not checked');
  for (const key of ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables']) assert.ok(findings.some((f) => f.object === key && f.severity === 'OK'), key);
  assert.ok(!runChecks(healthy()).some((f) => f.object === 'net.bridge.bridge-nf-call-ip6tables'), 'IPv4-only: br_netfilter for ip6tables not checked');

  const off = healthyDualStack();
  off.sysctls['net.ipv6.conf.all.forwarding'] = '0';
  const forwarding = problems(runChecks(off));
  assert.deepEqual(forwarding.map((f) => [f.severity, f.object]), [['FAIL', 'net.ipv6.conf.all.forwarding']]);
  assert.match(forwarding[0]!.detail, /does not route IPv6 pod traffic/);
  assert.match(forwarding[0]!.fix!, /sysctl -w net\.ipv6\.conf\.all\.forwarding=1/);

  assert.ok(findings.some((f) => f.object === 'eth1 IPv6 address' && f.detail === 'fd00:50::10/64'));
  const noV6 = healthyDualStack();
  noV6.links.find((l) => l.name === 'eth1')!.ipv6 = [];
  assert.ok(problems(runChecks(noV6)).some((f) => f.severity === 'FAIL' && f.object === 'eth1 IPv6 address' && /no global IPv6 address/.test(f.detail)));

  const gone = healthyDualStack();
  gone.routes.pop();
  const missing = problems(runChecks(gone));
  assert.deepEqual(missing.map((f) => [f.severity, f.object]), [['FAIL', 'route fd00:10:244:2::/64 via fd00:50::11 dev eth1']]);
  assert.match(missing[0]!.fix!, /ip route add fd00:10:244:2::\/64 via fd00:50::11 dev eth1 proto 77/);

  assert.ok(runChecks(healthyDualStack()).some((f) => f.object === 'node node-0 podCIDR' && f.detail === '10.244.1.0/24, fd00:10:244:1::/64'));
  const v4only = healthyDualStack();
  (v4only.nodes as { list: any[] }).list[0].podCIDRs.pop();
  const node = problems(runChecks(v4only)).filter((f) => f.check === 'node');
  assert.deepEqual(node.map((f) => [f.severity, f.object]), [['FAIL', 'node node-0 podCIDR']]);
  assert.match(node[0]!.detail, /have no IPv6 CIDR but --cluster-cidr has fd00:10:244::\/56: the families must match/);
});

test('--random-fully or not, our masquerade chain is complete', () => {
  const facts = healthy();
  facts.iptables.nft = iptablesSave({ randomFully: false });
  assert.deepEqual(problems(runChecks(facts)), []);
});

test('FORWARD policy DROP with our chain in place is fine, and said so', () => {
  const facts = healthy();
  facts.iptables.nft = iptablesSave({ policy: 'DROP' });
  const findings = runChecks(facts);
  assert.deepEqual(problems(findings), []);
  assert.equal(findings.find((f) => f.object === 'iptables-nft filter FORWARD policy')?.detail, 'DROP (pod traffic is accepted by BRIDGEWAY-FORWARD)');
});

test('a route down with its interface is reported once, as the interface', () => {
  const facts = healthy();
  facts.links.find((l) => l.name === 'eth1')!.up = false;
  facts.routes = facts.routes.filter((r) => r.dev !== 'eth1');
  assert.deepEqual(problems(runChecks(facts)).map((f) => f.object), ['eth1']);
});

test('NetworkManager hidden from a pod is said to be unseen, not absent', () => {
  const facts = healthy();
  facts.networkManager = { running: false, hidden: true };
  const finding = runChecks(facts).find((f) => f.check === 'networkmanager')!;
  assert.equal(finding.severity, 'OK');
  assert.match(finding.detail, /not visible from inside a pod .* run bridgeway-agent doctor on the node/);
});

test('released leaks are reported as released, not as leaks', () => {
  const facts = healthy();
  const gone = { address: '10.244.1.3', family: 4 as const, containerId: 'gone', ifname: 'eth0', hostVeth: hostVethName('gone', 'eth0') };
  facts.ipam.reservations.push(gone);
  const findings = runChecks(facts, [gone]);
  assert.deepEqual(problems(findings), []);
  assert.ok(findings.some((f) => f.object === 'address 10.244.1.3' && /^released \(container gone, eth0/.test(f.detail)));
});

test('NetworkPolicy enforced: the table counted and the agent\'s summary, all OK', () => {
  const findings = runChecks(enforcing()).filter((f) => f.check === 'policy');
  assert.deepEqual(findings.map((f) => `${f.severity} ${f.object}: ${f.detail}`), [
    'OK table inet bridgeway_policy: present: 5 chains, 12 rules, 9 sets with 7 elements; addresses of this node\'s isolated pods: 2 for ingress, 1 for egress',
    'OK agent: NetworkPolicy enforced: 3 policies, this node\'s pods isolated 2 ingress / 1 egress, 7 set elements',
  ]);
});

test('text: one line per finding with its fix, a summary; JSON: the same findings', () => {
  const facts = healthy();
  facts.sysctls['net.ipv4.ip_forward'] = '0';
  const report = makeReport('node-0', 'standalone', runChecks(facts));
  assert.equal(report.healthy, false);
  const lines = renderText(report).trimEnd().split('\n');
  assert.equal(lines.length, report.findings.length + 1);
  assert.ok(lines.includes('FAIL net.ipv4.ip_forward: 0: the node does not route pod traffic  fix: sysctl -w net.ipv4.ip_forward=1 (persist it in /etc/sysctl.d/)'));
  assert.match(lines.at(-1)!, /^node-0 \(standalone mode\): \d+ OK, 0 WARN, 1 FAIL$/);
  const json = JSON.parse(renderJson(report));
  assert.deepEqual(json.findings, report.findings);
  assert.deepEqual(json.counts, report.counts);
});

test('rp_filter as the agent judges it: the kernel applies max(all, device), so loose all=2 makes a strict device loose', () => {
  const facts = healthy();
  facts.sysctls['net.ipv4.conf.all.rp_filter'] = '2';
  facts.sysctls['net.ipv4.conf.eth1.rp_filter'] = '1';
  assert.deepEqual(problems(runChecks(facts)), []);
});

/** The conflist with the plugin's "antiSpoofing" set, or without the key (undefined). */
function withAntiSpoofing(facts: DoctorFacts, value: boolean | undefined): DoctorFacts {
  const doc = JSON.parse((facts.conflist.file as { text: string }).text);
  if (value === undefined) delete doc.plugins[0].antiSpoofing;
  else doc.plugins[0].antiSpoofing = value;
  facts.conflist.file = { text: JSON.stringify(doc) };
  return facts;
}

describe('the anti-spoofing table: expected by the conflist (or the plugin\'s default), one finding per port', () => {
  const noTable = (f: DoctorFacts) => { f.antispoof = { absent: 'table' }; };
  const noPods = (f: DoctorFacts) => { f.links = f.links.filter((l) => !l.name.startsWith('bw')); f.ipam.reservations = []; };
  const dropElements = (set: string) => (f: DoctorFacts) => { const t = f.antispoof as { elements: { set: string }[] }; t.elements = t.elements.filter((e) => e.set !== set); };
  type Case = [name: string, antiSpoofing: boolean | undefined, pluginDefault: boolean, inject: (f: DoctorFacts) => void, severity: Finding['severity'], object: RegExp, detail: RegExp, fix?: RegExp];
  const TABLE = /^nftables table bridge bridgeway$/;
  const PORT = new RegExp(`^port ${live.hostVeth}$`);
  const cases: Case[] = [
    ['on, with every live pod\'s elements', true, false, () => {}, 'OK', TABLE, /^present, with the elements of all 1 live attachment \("antiSpoofing": true in the conflist\)$/],
    ['off by configuration: no table expected', false, true, noTable, 'OK', TABLE, /^not expected: off by configuration \("antiSpoofing": false in the conflist\)$/],
    ['no key, and this build\'s plugin does not install the table (today\'s node)', undefined, false, noTable, 'OK', TABLE, /^not expected: the conflist has no "antiSpoofing" key, and this build's plugin does not install the table$/],
    ['no key, on by default, no table: the pods predate the protection', undefined, true, noTable, 'FAIL', TABLE,
      /^missing, while anti-spoofing is on \(the plugin's default, the conflist has no "antiSpoofing" key\): the 1 pod on this node started before the protection was installed and is unprotected until recreated$/, /recreate every pod on this node .*a pod not yet recreated keeps working, unprotected$/],
    ['on, no table and no pod yet: the first ADD makes it', true, false, (f) => { noTable(f); noPods(f); }, 'OK', TABLE, /^absent, and no pod on this node yet: the first pod's ADD creates it/],
    ['a guarded port lacks its IPv4 address', true, false, dropElements('port_ipv4'), 'FAIL', PORT,
      /^container c1 \(eth0, 10\.244\.1\.2\) is guarded but lacks 1 of its 7 anti-spoofing elements \(port_ipv4 10\.244\.1\.2\): the bridge drops what it sends from those addresses$/, /^recreate the pod, or restart it: the next ADD adds its elements$/],
    ['a guarded port lacks its MAC', true, false, dropElements('port_mac'), 'FAIL', PORT,
      /^container c1 .* is guarded but lacks 1 of its 7 anti-spoofing elements \(port_mac 0a:58:0a:f4:01:02\): the bridge drops every frame it sends$/, /^recreate the pod/],
    ['a pod that predates the table (an upgrade): no element at all, not guarded, so unprotected but working', true, false, (f) => { (f.antispoof as { elements: unknown[] }).elements = []; }, 'FAIL', PORT,
      /^unprotected: container c1 \(eth0, 10\.244\.1\.2\) started before the anti-spoofing table \(an upgrade\), or its elements were deleted: its port is not in guarded_ports, so the bridge does not check what it sends; it keeps working$/,
      /^recreate the pod \(kubectl delete pod\): its ADD guards the port with all its elements$/],
    ['a port with elements but not guarded is unprotected all the same', true, false, dropElements('guarded_ports'), 'FAIL', PORT, /^unprotected: container c1 /, /^recreate the pod/],
    ['elements of a port that is gone', true, false, (f) => { (f.antispoof as { elements: unknown[] }).elements.push(...attachmentElements({ port: 'bwdead00000000', mac: '0a:58:0a:f4:01:09', addresses: [] }).slice(0, 2)); }, 'WARN', /^port bwdead00000000$/,
      /^2 anti-spoofing elements of a port that no longer exists/, /CNI GC removes them/],
    ['nft not installed', true, false, (f) => { f.antispoof = { absent: 'nft' }; }, 'WARN', TABLE, /cannot be checked: nft is not installed/, /install nftables/],
    ['a set missing', true, false, (f) => { (f.antispoof as { sets: string[] }).sets.pop(); }, 'FAIL', TABLE, /^incomplete: no set port_nd_target/, /nft delete table bridge bridgeway/],
    ['a dual-stack pod lacks its IPv6 address', true, false, (f) => {
      f.ipam.reservations.push({ ...live, address: 'fd00:10:244:1::2', family: 6 });
      f.antispoof = { sets: antispoofRuleset().sets.map((s) => s.name), elements: attachmentElements({ port: live.hostVeth, mac: LIVE_MAC, addresses: [parseIp('10.244.1.2')!] }) };
    }, 'FAIL', PORT, /^container c1 \(eth0, 10\.244\.1\.2, fd00:10:244:1::2\) is guarded but lacks 2 of its 9 .*\(port_ipv6 fd00:10:244:1::2, port_nd_target fd00:10:244:1::2\)/],
    ['IPAM delegated: the table only', true, false, (f) => { f.ipam = { ...f.ipam, reservations: [], delegatedTo: 'host-local' }; }, 'OK', TABLE, /^present; elements not compared: IPAM is delegated to host-local/],
  ];
  for (const [name, antiSpoofing, pluginDefault, inject, severity, object, detail, fix] of cases) {
    test(name, () => {
      const facts = withAntiSpoofing(healthy(), antiSpoofing);
      inject(facts);
      const findings = checkAntispoof(deriveContext(facts), pluginDefault);
      const match = findings.find((f) => object.test(f.object) && detail.test(f.detail));
      assert.ok(match, `no finding ${object} / ${detail} in:\n${findings.map((f) => `${f.severity} ${f.object}: ${f.detail}`).join('\n')}`);
      assert.equal(match.severity, severity);
      if (severity !== 'OK') assert.ok(match.fix, 'a WARN or FAIL says how to fix it');
      if (fix) assert.match(match.fix!, fix);
      if (severity === 'OK') assert.deepEqual(problems(findings), []);
    });
  }

  test('the IPv6-only pod\'s MAC comes from its IPv6 address, as the plugin derives it', () => {
    const facts = withAntiSpoofing(healthy(), true);
    facts.ipam.reservations = [{ ...live, address: 'fd00:10:244:1::2c', family: 6 }];
    facts.antispoof = { sets: antispoofRuleset().sets.map((s) => s.name), elements: attachmentElements({ port: live.hostVeth, mac: '0a:58:00:00:00:2c', addresses: [parseIp('fd00:10:244:1::2c')!] }) };
    assert.deepEqual(problems(checkAntispoof(deriveContext(facts))), []);
  });
});
