import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv4, parseIpv4Cidr } from '../../lib/cidr.ts';
import { parseIptablesSave } from '../../lib/iptables/save.ts';
import { renderConflist } from '../../daemonset/conflist.ts';
import { selectInterface } from '../../daemonset/interface.ts';
import { ETH1_ANNOTATION, peersOf, type ClusterNode } from '../../daemonset/node-info.ts';
import { planIptables, removalPayload, restorePayload } from '../../daemonset/plan-iptables.ts';
import { diffRoutes, planRoutes, ROUTE_PROTO, routesAfter } from '../../daemonset/plan-routes.ts';

const cidr = (t: string) => parseIpv4Cidr(t)!;
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
    assert.equal(peers[1]!.gateway, parseIpv4('192.168.50.12'));
    assert.deepEqual(problems.map((p) => p.name), ['c', 'd', 'e']);
    assert.match(problems[0]!.reason, /no podCIDR yet/);
    assert.match(problems[1]!.reason, /no bridgeway.io\/eth1-ip annotation and no IPv4 InternalIP/);
    assert.match(problems[2]!.reason, /no IPv4 podCIDR/);
  });
  test('dual-stack podCIDRs: the IPv4 one is used', () => {
    const { peers } = peersOf([node('a', undefined, { podCIDRs: ['fd00::/64', '10.244.9.0/24'], internalIPs: ['192.168.50.9'] })], 'x');
    assert.deepEqual(peers[0]!.podCIDR, cidr('10.244.9.0/24'));
  });
});

describe('planRoutes', () => {
  const iface = { name: 'eth1', ipv4: [cidr('192.168.50.10/24')] };
  const peer = (name: string, pod: string, gw: string) => ({ name, podCIDR: cidr(pod), gateway: parseIpv4(gw)!, gatewaySource: 'annotation' as const });
  test('a route per reachable peer; unreachable ones say why', () => {
    const plan = planRoutes([
      peer('a', '10.244.1.0/24', '192.168.50.11'),
      peer('far', '10.244.2.0/24', '10.0.0.7'),
      peer('clash', '10.244.0.128/25', '192.168.50.12'),
      peer('me-too', '10.244.3.0/24', '192.168.50.10'),
    ], iface, cidr('10.244.0.0/24'));
    assert.deepEqual(plan.routes, [{ dst: '10.244.1.0/24', via: '192.168.50.11', dev: 'eth1', peer: 'a' }]);
    assert.deepEqual(plan.unreachable.map((u) => u.peer), ['far', 'clash', 'me-too']);
    assert.match(plan.unreachable[0]!.reason, /10\.0\.0\.7 .* not on eth1's subnet 192\.168\.50\.10\/24: all nodes must share one L2 segment/);
    assert.match(plan.unreachable[1]!.reason, /overlaps ours/);
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
    assert.deepEqual(diff.commands.map((c) => c.args.join(' ')), [
      `route replace 10.244.2.0/24 via 192.168.50.12 dev eth1 proto ${ROUTE_PROTO}`,
      `route add 10.244.3.0/24 via 192.168.50.13 dev eth1 proto ${ROUTE_PROTO}`,
      `route del 10.244.4.0/24 proto ${ROUTE_PROTO}`,
    ]);
    assert.equal(diff.commands[1]!.tolerate, 'exists', 'a foreign route that appeared since the read wins');
    assert.deepEqual([diff.added, diff.replaced, diff.deleted], [1, 1, 1]);
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
    assert.deepEqual(again.commands, []);
    assert.equal(again.conflicts.length, 1, 'the foreign route is still reported');
  });
  test('in sync: no commands', () => {
    const actual = want.map((r) => ({ dst: r.dst, gateway: r.via, dev: r.dev, protocol: ROUTE_PROTO }));
    assert.deepEqual(diffRoutes(want, actual).commands, []);
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

describe('interface selection and conflist', () => {
  const all = [
    { name: 'eth0', mtu: 1500, up: true, ipv4: [{ address: parseIpv4('10.0.0.5')!, prefixLength: 24 }] },
    { name: 'eth1', mtu: 9000, up: true, ipv4: [{ address: parseIpv4('192.168.50.10')!, prefixLength: 24 }] },
  ];
  test('by name or by CIDR; clear errors otherwise', () => {
    assert.equal(selectInterface(all, { iface: 'eth1' }).mtu, 9000);
    assert.equal(selectInterface(all, { iface: 'eth1', ifaceCidr: cidr('10.0.0.0/8') }).name, 'eth0');
    assert.throws(() => selectInterface(all, { iface: 'ens5' }), /interface ens5 not found \(have: eth0, eth1\)/);
    assert.throws(() => selectInterface([{ ...all[1]!, up: false }], { iface: 'eth1' }), /is down/);
  });
  test('conflist: 1.1.0, our subnet and MTU, portmap chained when present', () => {
    const conf = JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 9000, bridge: 'cni0', portmap: true, logLevel: 'info', dataDir: '/d', logFile: '/l' }));
    assert.equal(conf.cniVersion, '1.1.0');
    assert.deepEqual(conf.plugins[0].ipam, { subnet: '10.244.1.0/24' });
    assert.equal(conf.plugins[0].mtu, 9000);
    assert.equal(conf.plugins[1].type, 'portmap');
    assert.equal(JSON.parse(renderConflist({ cniVersion: '1.1.0', podCIDR: cidr('10.244.1.0/24'), mtu: 1500, bridge: 'cni0', portmap: false, logLevel: 'info', dataDir: '/d', logFile: '/l' })).plugins.length, 1);
  });
});
