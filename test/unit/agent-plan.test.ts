import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../lib/cidr.ts';
import { parseIptablesSave } from '../../lib/iptables/save.ts';
import { renderConflist } from '../../daemonset/conflist/render.ts';
import { selectInterface } from '../../daemonset/host/interface.ts';
import { ownPodCidrs, peersOf, type ClusterNode } from '../../daemonset/nodes/peers.ts';
import { planIptables, removalPayload, restorePayload } from '../../daemonset/iptables/plan.ts';
import { countRouteChanges, diffRoutes, planRoutes, routesAfter } from '../../daemonset/routes/plan.ts';
import { routeCommands } from '../../daemonset/routes/ip-batch.ts';
import { formatBatch } from '../../lib/iproute2/batch.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION, ROUTE_PROTO } from '../../lib/names.ts';

const cidr = (t: string) => parseCidr(t)!;
const node = (name: string, podCIDR: string | undefined, extra: Partial<ClusterNode> = {}): ClusterNode => ({
  name, podCIDRs: podCIDR ? [podCIDR] : [], internalIPs: [], annotations: {}, ...extra,
});

describe('peersOf', () => {
  test('annotation first, InternalIP as fallback; self, no podCIDR and no address are reported', () => {
    const { peers, problems } = peersOf([
      node('self', '10.244.0.0/24', { annotations: { [ETH1_ANNOTATION]: '192.168.50.10' } }),
      node('b', '10.244.2.0/24', { annotations: { [ETH1_ANNOTATION]: '192.168.50.12' }, internalIPs: ['172.18.0.3'] }),
      node('a', '10.244.1.0/24', { internalIPs: ['fd00::1', '192.168.50.11'] }),
      node('c', undefined),
      node('d', '10.244.4.0/24'),
      node('e', 'fd00:10::/64'),
    ], 'self');
    assert.deepEqual(peers.map((p) => [p.name, p.gatewaySource]), [['a', 'InternalIP'], ['b', 'annotation']]);
    assert.deepEqual(peers[1]!.gateway, parseIp('192.168.50.12'));
    assert.deepEqual(problems.map((p) => p.name), ['c', 'd', 'e']);
    assert.match(problems[0]!.reason, /no podCIDR yet/);
    assert.match(problems[1]!.reason, /no bridgeway.io\/eth1-ip annotation and no IPv4 InternalIP/);
    assert.match(problems[2]!.reason, /no IPv4 podCIDR/);
  });
  test('dual-stack podCIDRs: the IPv4 one is used', () => {
    const { peers } = peersOf([node('a', undefined, { podCIDRs: ['fd00::/64', '10.244.9.0/24'], internalIPs: ['192.168.50.9'] })], 'x');
    assert.deepEqual(peers[0]!.podCIDR, parseCidr('10.244.9.0/24'));
  });
  test('dual-stack: a peer per family, each with the address of its family; a missing family is reported, the other still routed', () => {
    const { peers, problems } = peersOf([
      node('a', undefined, { podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], annotations: { [ETH1_ANNOTATION]: '192.168.50.11', [ETH1_IPV6_ANNOTATION]: 'fd00:50::11' } }),
      node('b', undefined, { podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'], internalIPs: ['192.168.50.12', 'FD00:50:0::12'] }),
      node('v4only', '10.244.3.0/24', { annotations: { [ETH1_ANNOTATION]: '192.168.50.13' } }),
      node('no-v6-address', undefined, { podCIDRs: ['10.244.4.0/24', 'fd00:10:244:4::/64'], annotations: { [ETH1_ANNOTATION]: '192.168.50.14' } }),
      node('wrong-family', undefined, { podCIDRs: ['10.244.5.0/24', 'fd00:10:244:5::/64'], annotations: { [ETH1_ANNOTATION]: '192.168.50.15', [ETH1_IPV6_ANNOTATION]: '192.168.50.15' } }),
      node('two-v4', undefined, { podCIDRs: ['10.244.6.0/24', '10.244.7.0/24'] }),
    ], 'self', [4, 6]);
    const text = (p: (typeof peers)[number]) => `${p.name} ${p.family} ${p.podCIDR.family === 6 ? 'v6' : 'v4'} ${p.gatewaySource}`;
    assert.deepEqual(peers.map(text), [
      'a 4 v4 annotation', 'a 6 v6 annotation', 'b 4 v4 InternalIP', 'b 6 v6 InternalIP',
      'no-v6-address 4 v4 annotation', 'v4only 4 v4 annotation', 'wrong-family 4 v4 annotation',
    ]);
    assert.deepEqual(problems.map((p) => [p.name, p.family]), [['v4only', 6], ['no-v6-address', 6], ['wrong-family', 6], ['two-v4', undefined]]);
    assert.match(problems[0]!.reason, /no IPv6 podCIDR in 10\.244\.3\.0\/24/);
    assert.match(problems[1]!.reason, /no bridgeway\.io\/eth1-ipv6 annotation and no IPv6 InternalIP/);
    assert.match(problems[2]!.reason, /its bridgeway\.io\/eth1-ipv6 annotation holds an IPv4 address \(192\.168\.50\.15\), not IPv6/);
    assert.match(problems[3]!.reason, /podCIDRs has two IPv4 CIDRs \(10\.244\.6\.0\/24, 10\.244\.7\.0\/24\): at most one per family/);
  });
  test('own podCIDRs must have exactly the families of the cluster CIDR', () => {
    const dual = [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!];
    assert.deepEqual(ownPodCidrs(node('me', undefined, { podCIDRs: ['fd00:10:244:1::/64', '10.244.1.0/24'] }), dual), { cidrs: [parseCidr('10.244.1.0/24'), parseCidr('fd00:10:244:1::/64')] });
    assert.deepEqual(ownPodCidrs(node('me', undefined), dual), { none: true });
    const missing = ownPodCidrs(node('me', '10.244.1.0/24'), dual);
    assert.match('error' in missing ? missing.error : '', /node me's podCIDRs \(10\.244\.1\.0\/24\) have no IPv6 CIDR but --cluster-cidr has fd00:10:244::\/56: the families must match/);
    const extra = ownPodCidrs(node('me', undefined, { podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] }), [dual[0]!]);
    assert.match('error' in extra ? extra.error : '', /node me has the IPv6 podCIDR fd00:10:244:1::\/64 but --cluster-cidr \(10\.244\.0\.0\/16\) has no IPv6 CIDR/);
    const twice = ownPodCidrs(node('me', undefined, { podCIDRs: ['fd00:1::/64', 'fd00:2::/64'] }), dual);
    assert.match('error' in twice ? twice.error : '', /two IPv6 CIDRs/);
  });
});

describe('planRoutes', () => {
  const iface = { name: 'eth1', addresses: [parseCidr('192.168.50.10/24')!, parseCidr('fd00:50::10/64')!] };
  const peer = (name: string, pod: string, gw: string) => ({ name, family: parseIp(gw)!.family, podCIDR: parseCidr(pod)!, gateway: parseIp(gw)!, gatewaySource: 'annotation' as const });
  test('a route per reachable peer; unreachable ones say why', () => {
    const plan = planRoutes([
      peer('a', '10.244.1.0/24', '192.168.50.11'),
      peer('far', '10.244.2.0/24', '10.0.0.7'),
      peer('clash', '10.244.0.128/25', '192.168.50.12'),
      peer('me-too', '10.244.3.0/24', '192.168.50.10'),
    ], iface, parseCidr('10.244.0.0/24')!);
    assert.deepEqual(plan.routes, [{ dst: '10.244.1.0/24', via: '192.168.50.11', dev: 'eth1', peer: 'a' }]);
    assert.deepEqual(plan.unreachable.map((u) => u.peer), ['far', 'clash', 'me-too']);
    assert.match(plan.unreachable[0]!.reason, /10\.0\.0\.7 .* not on eth1's subnet 192\.168\.50\.10\/24: all nodes must share one L2 segment/);
    assert.match(plan.unreachable[1]!.reason, /overlaps ours/);
  });
  test('IPv6: routed via the peer\'s IPv6 eth1 address, checked against eth1\'s IPv6 subnets only', () => {
    const plan = planRoutes([
      peer('a', 'fd00:10:244:1::/64', 'fd00:50::11'),
      peer('far', 'fd00:10:244:2::/64', 'fd00:99::7'),
      peer('clash', 'fd00:10:244::/64', 'fd00:50::12'),
      peer('me-too', 'fd00:10:244:3::/64', 'fd00:50::10'),
      peer('a', '10.244.1.0/24', '192.168.50.11'),
    ], iface, [parseCidr('10.244.0.0/24')!, parseCidr('fd00:10:244::/64')!]);
    assert.deepEqual(plan.routes, [
      { dst: 'fd00:10:244:1::/64', via: 'fd00:50::11', dev: 'eth1', peer: 'a' },
      { dst: '10.244.1.0/24', via: '192.168.50.11', dev: 'eth1', peer: 'a' },
    ]);
    assert.deepEqual(plan.unreachable.map((u) => u.peer), ['far', 'clash', 'me-too']);
    assert.match(plan.unreachable[0]!.reason, /fd00:99::7 .* not on eth1's subnet fd00:50::10\/64: all nodes must share one L2 segment/);
    const v4only = planRoutes([peer('a', 'fd00:10:244:1::/64', 'fd00:50::11')], { name: 'eth1', addresses: [parseCidr('192.168.50.10/24')!] }, []);
    assert.match(v4only.unreachable[0]!.reason, /\(no IPv6 address\)/);
  });
});

describe('diffRoutes', () => {
  const want = [
    { dst: '10.244.1.0/24', via: '192.168.50.11', dev: 'eth1', peer: 'a' },
    { dst: '10.244.2.0/24', via: '192.168.50.12', dev: 'eth1', peer: 'b' },
    { dst: '10.244.3.0/24', via: '192.168.50.13', dev: 'eth1', peer: 'c' },
    { dst: '10.244.5.0/24', via: '192.168.50.15', dev: 'eth1', peer: 'e' },
  ];
  test('adds missing, replaces changed, deletes stale of ours, never touches foreign routes', () => {
    const diff = diffRoutes(want, [
      { dst: '10.244.1.0/24', gateway: '192.168.50.11', dev: 'eth1', protocol: ROUTE_PROTO },
      { dst: '10.244.2.0/24', gateway: '192.168.50.99', dev: 'eth1', protocol: ROUTE_PROTO },
      { dst: '10.244.4.0/24', gateway: '192.168.50.14', dev: 'eth1', protocol: ROUTE_PROTO },
      { dst: '10.244.5.0/24', gateway: '192.168.50.1', dev: 'eth1', protocol: 'static' },
      { dst: '0.0.0.0/0', gateway: '10.0.0.1', dev: 'eth0', protocol: 'dhcp' },
    ]);
    assert.deepEqual(diff.changes, [
      { op: 'replace-route', dst: '10.244.2.0/24', via: '192.168.50.12', dev: 'eth1' },
      { op: 'add-route', dst: '10.244.3.0/24', via: '192.168.50.13', dev: 'eth1' },
      { op: 'delete-route', dst: '10.244.4.0/24' },
    ]);
    assert.deepEqual(countRouteChanges(diff.changes), { added: 1, replaced: 1, deleted: 1 });
    assert.deepEqual(diff.conflicts, [{ dst: '10.244.5.0/24', owner: 'proto static via eth1' }]);
  });
  test('routesAfter: the table once the diff ran; diffing against it gives nothing to do', () => {
    const actual = [
      { dst: '10.244.1.0/24', gateway: '192.168.50.11', dev: 'eth1', protocol: ROUTE_PROTO },
      { dst: '10.244.2.0/24', gateway: '192.168.50.99', dev: 'eth1', protocol: ROUTE_PROTO },
      { dst: '10.244.4.0/24', gateway: '192.168.50.14', dev: 'eth1', protocol: ROUTE_PROTO },
      { dst: '10.244.5.0/24', gateway: '192.168.50.1', dev: 'eth1', protocol: 'static' },
      { dst: '0.0.0.0/0', gateway: '10.0.0.1', dev: 'eth0', protocol: 'dhcp' },
    ];
    const after = routesAfter(want, actual);
    assert.deepEqual(after.map((r) => `${r.dst} ${r.gateway} ${r.protocol}`).sort(), [
      '0.0.0.0/0 10.0.0.1 dhcp',
      `10.244.1.0/24 192.168.50.11 ${ROUTE_PROTO}`,
      `10.244.2.0/24 192.168.50.12 ${ROUTE_PROTO}`,
      `10.244.3.0/24 192.168.50.13 ${ROUTE_PROTO}`,
      '10.244.5.0/24 192.168.50.1 static',
    ]);
    const again = diffRoutes(want, after);
    assert.deepEqual(again.changes, []);
    assert.equal(again.conflicts.length, 1, 'the foreign route is still reported');
  });
  test('in sync: no commands', () => {
    const actual = want.map((r) => ({ dst: r.dst, gateway: r.via, dev: r.dev, protocol: ROUTE_PROTO }));
    assert.deepEqual(diffRoutes(want, actual).changes, []);
  });
});

describe('routeCommands: the one ip -batch spelling of route changes', () => {
  test('each change with our proto and what it tolerates', () => {
    const commands = routeCommands([
      { op: 'replace-route', dst: '10.244.2.0/24', via: '192.168.50.12', dev: 'eth1' },
      { op: 'add-route', dst: 'fd00:10:244:3::/64', via: 'fd00:50::13', dev: 'eth1' },
      { op: 'delete-route', dst: '10.244.4.0/24' },
    ]);
    assert.deepEqual(commands, [
      { args: ['route', 'replace', '10.244.2.0/24', 'via', '192.168.50.12', 'dev', 'eth1', 'proto', ROUTE_PROTO] },
      { args: ['route', 'add', 'fd00:10:244:3::/64', 'via', 'fd00:50::13', 'dev', 'eth1', 'proto', ROUTE_PROTO], tolerate: 'exists' },
      { args: ['route', 'del', '10.244.4.0/24', 'proto', ROUTE_PROTO], tolerate: 'missing' },
    ]);
    assert.equal(formatBatch(commands), `route replace 10.244.2.0/24 via 192.168.50.12 dev eth1 proto ${ROUTE_PROTO}\n`
      + `route add fd00:10:244:3::/64 via fd00:50::13 dev eth1 proto ${ROUTE_PROTO}\nroute del 10.244.4.0/24 proto ${ROUTE_PROTO}\n`);
  });
});

describe('iptables plan', () => {
  const specs = planIptables({ clusterCIDR: cidr('10.244.0.0/16'), podCIDR: cidr('10.244.1.0/24'), randomFully: true });
  test('the number of rules does not depend on the number of nodes', () => {
    assert.equal(specs.reduce((n, s) => n + s.rules.length, 0), 7);
  });
  test('first payload declares our chains and inserts the hooks; nothing built-in is declared', () => {
    const payload = restorePayload(specs, parseIptablesSave('*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n'))!;
    assert.ok(payload.includes(':BRIDGEWAY-FORWARD - [0:0]'));
    assert.ok(payload.includes('-I FORWARD 1 -m comment --comment "bridgeway: pod forwarding" -j BRIDGEWAY-FORWARD'));
    assert.ok(!/^:(FORWARD|POSTROUTING|INPUT|OUTPUT|PREROUTING) /m.test(payload));
    assert.ok(payload.includes('-j MASQUERADE --random-fully'));
  });
  test('in sync: no payload; a flushed chain or a duplicate hook: a payload that repairs it', () => {
    const saved = (extraHook = false, flushNat = false) => {
      const lines = ['*filter', ':BRIDGEWAY-FORWARD - [0:0]'];
      const filter = specs[0]!;
      const nat = specs[1]!;
      lines.push(`-A FORWARD ${filter.hook.rule}`, ...(extraHook ? [`-A FORWARD ${filter.hook.rule}`] : []));
      lines.push(...filter.rules.map((r) => `-A BRIDGEWAY-FORWARD ${r}`), 'COMMIT', '*nat', ':BRIDGEWAY-POSTRTG - [0:0]', `-A POSTROUTING ${nat.hook.rule}`);
      if (!flushNat) lines.push(...nat.rules.map((r) => `-A BRIDGEWAY-POSTRTG ${r}`));
      lines.push('COMMIT');
      return parseIptablesSave(lines.join('\n'));
    };
    assert.equal(restorePayload(specs, saved()), undefined);
    assert.ok(restorePayload(specs, saved(false, true))!.includes('-A BRIDGEWAY-POSTRTG -m mark'));
    assert.ok(restorePayload(specs, saved(true))!.includes('-D FORWARD -m comment --comment "bridgeway: pod forwarding"'));
    assert.match(removalPayload(saved())!, /-D FORWARD .*\n-F BRIDGEWAY-FORWARD\n-X BRIDGEWAY-FORWARD/);
  });
});

describe('ip6tables plan', () => {
  const specs = planIptables({ clusterCIDR: parseCidr('fd00:10:244::/56')!, podCIDR: parseCidr('fd00:10:244:1::/64')!, randomFully: true });
  test('the same chains and hooks as IPv4, with IPv6 CIDRs and IPv6 multicast', () => {
    const v4 = planIptables({ clusterCIDR: cidr('10.244.0.0/16'), podCIDR: cidr('10.244.1.0/24'), randomFully: true });
    assert.deepEqual(specs.map((s) => [s.table, s.chain, s.hook]), v4.map((s) => [s.table, s.chain, s.hook]));
    assert.deepEqual(specs[0]!.rules, [
      '-s fd00:10:244::/56 -m comment --comment "bridgeway: from pods" -j ACCEPT',
      '-d fd00:10:244::/56 -m comment --comment "bridgeway: to pods" -j ACCEPT',
    ]);
    assert.deepEqual(specs[1]!.rules, [
      '-m mark --mark 0x4000/0x4000 -m comment --comment "bridgeway: kube-proxy masquerades these" -j RETURN',
      '-s fd00:10:244::/56 -d fd00:10:244::/56 -m comment --comment "bridgeway: pod to pod keeps the source" -j RETURN',
      '! -s fd00:10:244::/56 -d fd00:10:244:1::/64 -m comment --comment "bridgeway: host to local pod" -j RETURN',
      '-s fd00:10:244::/56 ! -d ff00::/8 -m comment --comment "bridgeway: pod to outside" -j MASQUERADE --random-fully',
      '! -s fd00:10:244::/56 -d fd00:10:244::/56 -m comment --comment "bridgeway: host to remote pod" -j MASQUERADE --random-fully',
    ]);
  });
});

describe('interface selection and conflist', () => {
  const all = [
    { name: 'eth0', mtu: 1500, up: true, ipv4: [cidr('10.0.0.5/24')] },
    { name: 'eth1', mtu: 9000, up: true, ipv4: [cidr('192.168.50.10/24')] },
  ];
  test('by name or by CIDR; clear errors otherwise', () => {
    assert.equal(selectInterface(all, { iface: 'eth1' }).mtu, 9000);
    assert.equal(selectInterface(all, { iface: 'eth1', ifaceCidr: parseCidr('10.0.0.0/8')! }).name, 'eth0');
    assert.throws(() => selectInterface(all, { iface: 'ens5' }), /interface ens5 not found \(have: eth0, eth1\)/);
    assert.throws(() => selectInterface([{ ...all[1]!, up: false }], { iface: 'eth1' }), /is down/);
  });
  test('dual-stack: the address of each family; a missing family is an error naming it', () => {
    const dual = [all[0]!, { ...all[1]!, ipv6: [{ ...parseCidr('fd00:50::10/64')! }] }];
    const chosen = selectInterface(dual, { iface: 'eth1', families: [4, 6] });
    assert.deepEqual(chosen.addresses, { 4: parseIp('192.168.50.10'), 6: parseIp('fd00:50::10') });
    assert.equal(selectInterface(dual, { iface: 'x', ifaceCidr: parseCidr('fd00:50::/64')!, families: [6] }).name, 'eth1');
    assert.throws(() => selectInterface(all, { iface: 'eth1', families: [4, 6] }), /interface eth1 has no global IPv6 address \(the cluster CIDR has an IPv6 range\)/);
  });
  test('conflist: 1.1.0, our subnet and MTU, portmap chained when present', () => {
    const conf = JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 9000, bridge: 'cni0', portmap: true, logLevel: 'info', dataDir: '/d', logFile: '/l' }));
    assert.equal(conf.cniVersion, '1.1.0');
    assert.deepEqual(conf.plugins[0].ipam, { subnet: '10.244.1.0/24' });
    assert.equal(conf.plugins[0].mtu, 9000);
    assert.equal(conf.plugins[1].type, 'portmap');
    assert.equal(JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 1500, bridge: 'cni0', portmap: false, logLevel: 'info', dataDir: '/d', logFile: '/l' })).plugins.length, 1);
  });
  test('conflist: one family is a plain subnet (unchanged for IPv4-only nodes); dual-stack is one range per family', () => {
    const render = (podCIDR: Parameters<typeof renderConflist>[0]['podCIDR']) =>
      JSON.parse(renderConflist({ cniVersion: '1.0.0', podCIDR, mtu: 1500, bridge: 'cni0', portmap: false, logLevel: 'info', dataDir: '/d', logFile: '/l' })).plugins[0].ipam;
    assert.deepEqual(render([parseCidr('10.244.1.0/24')!]), { subnet: '10.244.1.0/24' });
    assert.deepEqual(render([parseCidr('fd00:10:244:1::/64')!]), { subnet: 'fd00:10:244:1::/64' });
    assert.deepEqual(render([parseCidr('10.244.1.0/24')!, parseCidr('fd00:10:244:1::/64')!]), { ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] });
  });
});
