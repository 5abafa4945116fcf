import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../../../lib/cidr.ts';
import { flowMod } from '../../../../lib/openflow/protocol.ts';
import {
  DELETE_ALL_STEERING, diffSteering, planSteeringFlows, steeringInPlace, STEERING_COOKIE_MASK, STEERING_COOKIE_PREFIX, STEERING_PRIORITY,
} from '../../../../daemonset/ovs/steering.ts';

const v4 = parseCidr('10.244.1.0/24')!;
const v6 = parseCidr('fd00:10:244:1::/64')!;
const MAC = '52:c5:9b:97:0c:4b';

test('dual stack: LOCAL switched, neighbour discovery switched, pod-to-pod of each family to LOCAL with its MAC', () => {
  const flows = planSteeringFlows({ podCIDRs: [v4, v6], localMac: MAC.toUpperCase() });
  assert.deepEqual(flows.map((f) => [f.add.priority, f.text]), [
    [STEERING_PRIORITY.local, 'table=1,in_port=LOCAL actions=NORMAL'],
    [STEERING_PRIORITY.steer, `table=1,ip,nw_src=10.244.1.0/24,nw_dst=10.244.1.0/24 actions=mod_dl_dst:${MAC},output:LOCAL`],
    [STEERING_PRIORITY.neighbour, 'table=1,icmp6,icmp_type=135 actions=NORMAL'],
    [STEERING_PRIORITY.neighbour, 'table=1,icmp6,icmp_type=136 actions=NORMAL'],
    [STEERING_PRIORITY.steer, `table=1,ipv6,ipv6_src=fd00:10:244:1::/64,ipv6_dst=fd00:10:244:1::/64 actions=mod_dl_dst:${MAC},output:LOCAL`],
  ]);
  assert.ok(STEERING_PRIORITY.local > STEERING_PRIORITY.neighbour && STEERING_PRIORITY.neighbour > STEERING_PRIORITY.steer);
  for (const f of flows) assert.equal(f.add.cookie & STEERING_COOKIE_MASK, STEERING_COOKIE_PREFIX);
  assert.equal(new Set(flows.map((f) => f.add.cookie)).size, flows.length, 'one cookie per flow');
  // Table 1, behind the anti-spoofing guard's table 0 (lib/openflow/port-guard.ts); the table is in
  // the cookie, so an upgraded agent deletes its table-0 flows of the same match as stale.
  for (const f of flows) assert.equal(f.add.table, 1);
  // The IPv6 flow's match on the wire: eth_type 86dd, ipv6_src and ipv6_dst with a /64 mask.
  const wire = flowMod(flows[4]!.add, 1).toString('hex');
  assert.match(wire, /80000a0286dd80003520fd000010024400010000000000000000ffffffffffffffff0000000000000000/);
  assert.match(wire, /80003720fd000010024400010000000000000000ffffffffffffffff0000000000000000/);
});

test('IPv4 only: no ND or IPv6 flows; the cookie follows the MAC and the podCIDR', () => {
  const a = planSteeringFlows({ podCIDRs: [v4], localMac: MAC });
  assert.equal(a.length, 2);
  const b = planSteeringFlows({ podCIDRs: [v4], localMac: '52:c5:9b:97:0c:4c' });
  const c = planSteeringFlows({ podCIDRs: [parseCidr('10.244.2.0/24')!], localMac: MAC });
  assert.equal(a[0]!.add.cookie, b[0]!.add.cookie);
  assert.notEqual(a[1]!.add.cookie, b[1]!.add.cookie);
  assert.notEqual(a[1]!.add.cookie, c[1]!.add.cookie);
});

test('diff: nothing when all are there; missing added; ours no longer wanted deleted by exact cookie; others never touched', () => {
  const wanted = planSteeringFlows({ podCIDRs: [v4, v6], localMac: MAC });
  const cookies = wanted.map((f) => f.add.cookie);
  assert.deepEqual(diffSteering(wanted, cookies), { add: [], remove: [], added: [] });
  assert.equal(steeringInPlace(wanted, cookies), true);

  const old = STEERING_COOKIE_PREFIX | 0x1234n;
  const change = diffSteering(wanted, [...cookies.slice(1), old, 0n, 0x1234n]);
  assert.deepEqual(change.add, [wanted[0]!.add]);
  assert.deepEqual(change.added, ['table=1,in_port=LOCAL actions=NORMAL']);
  assert.deepEqual(change.remove, [{ command: 'delete', cookie: old, cookieMask: 0xffffffffffffffffn }]);
  assert.equal(steeringInPlace(wanted, cookies.slice(1)), false);
  assert.deepEqual(DELETE_ALL_STEERING, { command: 'delete', cookie: STEERING_COOKIE_PREFIX, cookieMask: STEERING_COOKIE_MASK });
});
