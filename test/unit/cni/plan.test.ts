// cni/plan.ts (pure): the host veth's name and MAC, the pod's MAC, and the node's and the pod's
// kernel changes as data, for one family and for both.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../lib/cidr.ts';
import { parseNetConf } from '../../../cni/config/netconf.ts';
import { hostVethMac, planAdd, podElements, type PodAddressing } from '../../../cni/plan.ts';
import { addressMac } from '../../../lib/mac.ts';
import { attachmentElements } from '../../../lib/antispoof/ruleset.ts';
import { describeChange } from '../../../lib/iproute2/change-command.ts';
import { hostVethName } from '../../../lib/names.ts';
import { toleratedFailure, type Change } from '../../../lib/kernel/change.ts';

const CONF_TEXT = JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', mtu: 1400, ipam: { subnet: '10.244.1.0/24' }, dns: { nameservers: ['10.96.0.10'] } });
const conf = parseNetConf(CONF_TEXT);
const pod = { ips: [{ address: parseCidr('10.244.1.7/24')!, gateway: parseIp('10.244.1.1')! }], routes: [{ dst: parseCidr('0.0.0.0/0')!, gw: parseIp('10.244.1.1')! }] };
const target = { containerId: 'abc', ifname: 'eth0', netns: '/run/netns/pod' };
const DUAL = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/64' }]] };
/** A pod's addressing with one address (and default route) per family given. */
const addressing = (...ips: [string, string][]): PodAddressing => ({
  ips: ips.map(([address, gateway]) => ({ address: parseCidr(address)!, gateway: parseIp(gateway)! })),
  routes: ips.map(([address, gateway]) => ({ dst: parseCidr(address.includes(':') ? '::/0' : '0.0.0.0/0')!, gw: parseIp(gateway)! })),
});
/** The families of the addresses a change names. */
const familiesIn = (change: Change): number[] =>
  change.op === 'add-address' ? [change.address.family] : change.op === 'add-route' ? [change.dst.family, ...(change.gateway ? [change.gateway.family] : [])] : [];

/**
 * The pod's sysctls, the same whatever its families (an IPv4-only pod still has IPv6 link-local),
 * the last with antiSpoofing (the default) only: the link-local address from the MAC.
 */
const REFUSALS = [
  'sysctl -w net/ipv6/conf/eth0/accept_ra=0',
  'sysctl -w net/ipv6/conf/eth0/accept_redirects=0',
  'sysctl -w net/ipv4/conf/all/accept_redirects=0',
  'sysctl -w net/ipv4/conf/eth0/accept_redirects=0',
  'sysctl -w net/ipv6/conf/eth0/addr_gen_mode=0',
];

describe('names and MACs', () => {
  test('host veth names are deterministic, short enough and differ per attachment', () => {
    const name = hostVethName('abc', 'eth0');
    assert.match(name, /^bw[0-9a-f]{12}$/);
    assert.equal(name, hostVethName('abc', 'eth0'));
    assert.notEqual(name, hostVethName('abc', 'net1'));
    assert.notEqual(name, hostVethName('abd', 'eth0'));
  });
  test('MACs: pods and bridge 0a:58:<ip>, host veth locally administered unicast', () => {
    assert.equal(addressMac(parseIp('10.244.1.7')!), '0a:58:0a:f4:01:07');
    const mac = hostVethMac('abc', 'eth0');
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
  });
});

describe('planAdd', () => {
  const plan = planAdd(conf, target, pod);
  test('node side: bridge created with its MAC, gateway, veth born in the netns, port with its alias, hairpin (the default)', () => {
    assert.deepEqual(plan.hostChanges.map(describeChange), [
      'link add cni0 address 0a:58:0a:f4:01:01 mtu 1400 type bridge',
      'link set cni0 up',
      'addr replace 10.244.1.1/24 dev cni0',
      `link add ${plan.hostVeth} mtu 1400 address ${hostVethMac('abc', 'eth0')} type veth peer name eth0 mtu 1400 address 0a:58:0a:f4:01:07 netns /run/netns/pod`,
      `link set ${plan.hostVeth} master cni0 alias bridgeway:n:abc:eth0 up`,
      `link set ${plan.hostVeth} type bridge_slave hairpin on`,
      // Last on the node, after the veth is a port and before the pod's interface comes up.
      `nft 'add element bridge bridgeway guarded_ports { "${plan.hostVeth}" }; ` +
        `add element bridge bridgeway port_mac { "${plan.hostVeth}" . 0a:58:0a:f4:01:07 }; ` +
        `add element bridge bridgeway port_arp { "${plan.hostVeth}" . 0a:58:0a:f4:01:07 . 10.244.1.7, "${plan.hostVeth}" . 0a:58:0a:f4:01:07 . 0.0.0.0 }; ` +
        `add element bridge bridgeway port_ipv4 { "${plan.hostVeth}" . 10.244.1.7 }; ` +
        `add element bridge bridgeway port_ipv6 { "${plan.hostVeth}" . fe80::858:aff:fef4:107 }; ` +
        `add element bridge bridgeway port_nd_target { "${plan.hostVeth}" . 0xfe8000000000000008580afffef40107 }'`,
    ]);
    assert.equal(toleratedFailure(plan.hostChanges[0]!), 'exists');
  });
  test('"hairpinMode": false: hairpin set off in the same place (a port someone turned it on for is set back), nothing else differs', () => {
    const off = planAdd(parseNetConf(JSON.stringify({ ...JSON.parse(CONF_TEXT), hairpinMode: false })), target, pod);
    const index = plan.hostChanges.findIndex((c) => c.op === 'set-hairpin');
    assert.deepEqual(plan.hostChanges[index], { op: 'set-hairpin', link: plan.hostVeth, on: true });
    assert.deepEqual(off.hostChanges[index], { op: 'set-hairpin', link: plan.hostVeth, on: false });
    assert.equal(describeChange(off.hostChanges[index]!), `link set ${plan.hostVeth} type bridge_slave hairpin off`);
    assert.deepEqual(off.hostChanges.toSpliced(index, 1), plan.hostChanges.toSpliced(index, 1));
    assert.deepEqual(off.podChanges, plan.podChanges);
  });
  test('anti-spoofing: the port\'s elements from the plan\'s own MAC, port and addresses; none with antiSpoofing false', () => {
    assert.deepEqual(plan.guard, { op: 'guard-port', link: plan.hostVeth, elements: attachmentElements({ port: plan.hostVeth, mac: '0a:58:0a:f4:01:07', addresses: [parseIp('10.244.1.7')!] }) });
    assert.equal(plan.hostChanges.at(-1), plan.guard);
    assert.deepEqual(podElements(plan.hostVeth, [parseIp('10.244.1.7')!]), plan.guard!.elements, 'DEL derives the same elements from the address alone');
    const off = planAdd(parseNetConf(JSON.stringify({ ...JSON.parse(CONF_TEXT), antiSpoofing: false })), target, pod);
    assert.equal(off.guard, undefined);
    assert.deepEqual(off.hostChanges, plan.hostChanges.slice(0, -1));
  });
  test('pod side: no RAs and no redirects (before the link is up), lo up, address, link up, routes', () => {
    assert.deepEqual(plan.podChanges.map(describeChange), [
      ...REFUSALS,
      'link set lo up',
      'addr add 10.244.1.7/24 dev eth0',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.244.1.1 dev eth0',
    ]);
  });
  test('result: bridge, host veth, pod interface with sandbox; ips index the pod interface', () => {
    assert.deepEqual(plan.result, {
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:f4:01:01' },
        { name: plan.hostVeth, mac: hostVethMac('abc', 'eth0') },
        { name: 'eth0', mac: '0a:58:0a:f4:01:07', mtu: 1400, sandbox: '/run/netns/pod' },
      ],
      ips: [{ address: '10.244.1.7/24', gateway: '10.244.1.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
      dns: { nameservers: ['10.96.0.10'] },
    });
  });
  test('no gateway address on the bridge when isGateway is false', () => {
    const noGw = planAdd({ ...conf, isGateway: false }, target, pod);
    assert.ok(!noGw.hostChanges.some((c) => c.op === 'add-address'));
  });
  test('with an uplink the bridge holds no gateway (the LAN\'s router is it), and the pod still routes through it', () => {
    const lan = planAdd({ ...conf, uplink: 'eth1' }, target, pod);
    assert.ok(!lan.hostChanges.some((c) => c.op === 'add-address'));
    assert.deepEqual(lan.result.ips[0]!.gateway, '10.244.1.1');
    assert.deepEqual(lan.result.routes, [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }]);
  });
});

describe('planAdd per family', () => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: DUAL }));
  test('dual-stack: both gateways on the bridge, IPv6 with nodad; both addresses and default routes in the pod', () => {
    const plan = planAdd(conf, target, addressing(['10.0.0.7/24', '10.0.0.1'], ['fd00:10::7/64', 'fd00:10::1']));
    const lines = plan.hostChanges.map(describeChange);
    assert.deepEqual(lines.slice(0, 5), [
      'link add cni0 address 0a:58:0a:00:00:01 mtu 1500 type bridge',
      'link set cni0 up',
      'addr replace 10.0.0.1/24 dev cni0',
      'addr replace fd00:10::1/64 dev cni0 nodad',
      'addr replace fe80::1/64 dev cni0 nodad',
    ]);
    assert.match(lines[5]!, / peer name eth0 mtu 1500 address 0a:58:0a:00:00:07 netns /, 'the pod MAC stays IPv4-derived');
    assert.equal(plan.bridgeIpv6, true);
    assert.deepEqual(plan.podChanges.map(describeChange), [
      ...REFUSALS,
      'link set lo up',
      'addr add 10.0.0.7/24 dev eth0',
      'addr add fd00:10::7/64 dev eth0 nodad',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.0.0.1 dev eth0',
      'route add ::/0 via fd00:10::1 dev eth0',
    ]);
    assert.deepEqual(plan.result.ips, [
      { address: '10.0.0.7/24', gateway: '10.0.0.1', interface: 2 },
      { address: 'fd00:10::7/64', gateway: 'fd00:10::1', interface: 2 },
    ]);
    assert.deepEqual(plan.result.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0', gw: 'fd00:10::1' }]);
  });

  test('IPv6-only: MACs from the last 4 bytes of the IPv6 addresses, no IPv4 anywhere', () => {
    const plan = planAdd(conf, target, addressing(['fd00:10::a:b0c/64', 'fd00:10::1']));
    assert.equal(plan.bridgeMac, '0a:58:00:00:00:01');
    assert.equal(plan.result.interfaces[2]!.mac, '0a:58:00:0a:0b:0c');
    assert.deepEqual([...new Set(plan.hostChanges.concat(plan.podChanges).flatMap(familiesIn))], [6]);
    assert.deepEqual(plan.hostChanges[2], { op: 'add-address', link: 'cni0', address: parseCidr('fd00:10::1/64')!, replace: true });
  });

  test('IPv4-only: no IPv6 gateway, so the bridge\'s accept_ra is left alone', () => {
    assert.equal(planAdd(conf, target, addressing(['10.0.0.7/24', '10.0.0.1'])).bridgeIpv6, false);
  });
});

describe('planAdd: the pod refuses router advertisements and redirects, and takes its link-local address from its MAC', () => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: DUAL }));
  const families = {
    'IPv4-only': addressing(['10.0.0.7/24', '10.0.0.1']),
    'IPv6-only': addressing(['fd00:10::7/64', 'fd00:10::1']),
    'dual-stack': addressing(['10.0.0.7/24', '10.0.0.1'], ['fd00:10::7/64', 'fd00:10::1']),
  };
  for (const [name, addresses] of Object.entries(families)) {
    test(`${name}: both families' sysctls first, on the pod's ifname, before any link comes up`, () => {
      const changes = planAdd(conf, { ...target, ifname: 'net1' }, addresses).podChanges;
      const sysctls = changes.filter((c) => c.op === 'set-sysctl');
      assert.deepEqual(sysctls.map(describeChange), REFUSALS.map((line) => line.replace('/eth0/', '/net1/')));
      assert.deepEqual(changes.slice(0, sysctls.length), sysctls);
    });
  }
  test('only the IPv6 keys tolerate being missing (a pod namespace without IPv6); IPv4 ones must succeed', () => {
    const changes = planAdd(conf, target, families['dual-stack']).podChanges.filter((c) => c.op === 'set-sysctl');
    assert.deepEqual(changes.map((c) => [c.key.split('/')[1], toleratedFailure(c)]), [['ipv6', 'missing'], ['ipv6', 'missing'], ['ipv4', undefined], ['ipv4', undefined], ['ipv6', 'missing']]);
  });
  test('"antiSpoofing": false leaves addr_gen_mode alone: only the filter needs the link-local address from the MAC', () => {
    const off = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: DUAL, antiSpoofing: false }));
    const sysctls = planAdd(off, target, families['dual-stack']).podChanges.filter((c) => c.op === 'set-sysctl');
    assert.deepEqual(sysctls.map(describeChange), REFUSALS.slice(0, 4));
  });
});

