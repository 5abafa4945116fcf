// routes/plan.ts (pure): the routes to every peer's podCIDR, and the minimal changes from the
// kernel's main table, as data.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { countRouteChanges, diffRoutes, planRoutes, routeFamily, routesAfter } from '../../../../daemonset/routes/plan.ts';
import { ROUTE_PROTO } from '../../../../lib/names.ts';


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


test('routeFamily: the family of a planned route, read from its dst text', () => {
  assert.equal(routeFamily({ dst: '10.244.1.0/24', via: '192.168.0.2', dev: 'eth1', peer: 'a' }), 4);
  assert.equal(routeFamily({ dst: 'fd00:10:244:1::/64', via: 'fd00:50::2', dev: 'eth1', peer: 'a' }), 6);
  assert.equal(routeFamily({ dst: '::/0', via: 'fd00:50::2', dev: 'eth1', peer: 'a' }), 6);
});
