// daemonset/doctor/gather-policy.ts: the policy table as nft lists it, counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countPolicyTable } from '../../../../daemonset/doctor/gather-policy.ts';

test('chains, rules, sets and elements counted; to_pod/from_pod elements are the isolated addresses', () => {
  const listed = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'inet', name: 'bridgeway_policy' } },
    { map: { family: 'inet', table: 'bridgeway_policy', name: 'to_pod4', elem: [['10.244.1.2', { jump: { target: 'ic_1' } }], ['10.244.1.3', { jump: { target: 'ic_1' } }]] } },
    { map: { family: 'inet', table: 'bridgeway_policy', name: 'from_pod6', elem: [['fd00::2', { jump: { target: 'ec_1' } }]] } },
    { set: { family: 'inet', table: 'bridgeway_policy', name: 'ik_1_a4', elem: ['10.244.2.2'] } },
    { set: { family: 'inet', table: 'bridgeway_policy', name: 'self4' } },
    { chain: { family: 'inet', table: 'bridgeway_policy', name: 'pods_forward' } },
    { chain: { family: 'inet', table: 'bridgeway_policy', name: 'ic_1' } },
    { rule: { family: 'inet', table: 'bridgeway_policy', chain: 'pods_forward', expr: [] } },
  ] });
  assert.deepEqual(countPolicyTable(listed), { chains: 2, rules: 1, sets: 4, elements: 4, isolated: { ingress: 2, egress: 1 } });
});
