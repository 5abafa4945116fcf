// nodes/peers.ts (pure): the cluster's nodes as the peers of each family this node routes to.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { type ClusterNode, ownPodCidrs, peersOf } from '../../../../daemonset/nodes/peers.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';

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

