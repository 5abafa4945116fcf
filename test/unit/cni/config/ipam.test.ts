// cni/config/ipam.ts, per family: ipam.subnet of either family, host-local's ranges with one range
// set per family, per-range options, and routes of both families.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, formatIp, type IpFamily } from '../../../../lib/cidr.ts';
import type { BuiltinIpam } from '../../../../cni/config/ipam.ts';
import { parseNetConf } from '../../../../cni/config/netconf.ts';

const builtin = (ipam: unknown, extra: Record<string, unknown> = {}): BuiltinIpam => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bridgeway', ipam, ...extra }));
  assert.ok(conf.ipam.kind === 'builtin');
  return conf.ipam;
};
const text = (family: IpFamily, value: bigint | undefined) => (value === undefined ? undefined : formatIp({ family, value }));
const summary = (ipam: BuiltinIpam) => ({
  ranges: ipam.ranges.map((r) => [formatCidr(r.subnet), text(r.family, r.start), text(r.family, r.end), text(r.family, r.gateway)]),
  routes: ipam.routes.map((r) => [formatCidr(r.dst), r.gw && formatIp(r.gw)]),
});

test('an IPv6 ipam.subnet: one range from ::2, gateway ::1, default route ::/0', () => {
  assert.deepEqual(summary(builtin({ subnet: 'fd00:10:244:1::/64' })), {
    ranges: [['fd00:10:244:1::/64', 'fd00:10:244:1::1', 'fd00:10:244:1:ffff:ffff:ffff:ffff', 'fd00:10:244:1::1']],
    routes: [['::/0', undefined]],
  });
});

test('host-local ranges, one set per family, in either order: IPv4 first, both default routes', () => {
  const want = {
    ranges: [
      ['10.244.1.0/24', '10.244.1.1', '10.244.1.254', '10.244.1.1'],
      ['fd00:10:244:1::/120', 'fd00:10:244:1::1', 'fd00:10:244:1::ff', 'fd00:10:244:1::1'],
    ],
    routes: [['0.0.0.0/0', undefined], ['::/0', undefined]],
  };
  assert.deepEqual(summary(builtin({ ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/120' }]] })), want);
  assert.deepEqual(summary(builtin({ ranges: [[{ subnet: 'fd00:10:244:1::/120' }], [{ subnet: '10.244.1.0/24' }]] })), want);
});

test('per-range rangeStart, rangeEnd and gateway; any spelling of IPv6 is read canonically', () => {
  const ipam = builtin({
    ranges: [
      [{ subnet: '10.1.0.0/16', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20', gateway: '10.1.0.254' }],
      [{ subnet: 'FD00:0:0:1::/64', rangeStart: 'fd00:0:0:1::100', rangeEnd: 'fd00:0000:0:1::1ff', gateway: 'fd00:0:0:1::fffe' }],
    ],
  });
  assert.deepEqual(summary(ipam).ranges, [
    ['10.1.0.0/16', '10.1.0.10', '10.1.0.20', '10.1.0.254'],
    ['fd00:0:0:1::/64', 'fd00:0:0:1::100', 'fd00:0:0:1::1ff', 'fd00:0:0:1::fffe'],
  ]);
});

test('routes of either family, with or without gw; dst is reduced to its network', () => {
  const ipam = builtin({
    ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }, { dst: 'fd00:10:96::5/112', gw: 'fd00:10:244:1::fe' }, { dst: '10.96.0.0/12', gw: '10.244.1.254' }],
  });
  assert.deepEqual(summary(ipam).routes, [
    ['0.0.0.0/0', undefined],
    ['::/0', undefined],
    ['fd00:10:96::/112', 'fd00:10:244:1::fe'],
    ['10.96.0.0/12', '10.244.1.254'],
  ]);
});

test('a /126 is the smallest IPv6 range: ::2 and ::3 beside the gateway', () => {
  assert.deepEqual(summary(builtin({ subnet: 'fd00::4/126' })).ranges, [['fd00::4/126', 'fd00::5', 'fd00::7', 'fd00::5']]);
});
