// lib/mac.ts: MACs as text, and the pod MAC derived from its addresses. The agent's doctor
// derives a pod's MAC with podMac to find its anti-spoofing elements; it must be the MAC the
// plugin's planAdd actually gives the pod, for every mix of families.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../lib/cidr.ts';
import { addressMac, formatMac, parseMac, podMac } from '../../../lib/mac.ts';
import { parseNetConf } from '../../../cni/config/netconf.ts';
import { planAdd } from '../../../cni/plan.ts';

const ip = (text: string) => parseIp(text)!;

describe('MACs', () => {
  test('text and bytes round-trip; anything else is refused', () => {
    assert.equal(formatMac(parseMac('0A:58:0a:f4:01:07')), '0a:58:0a:f4:01:07');
    assert.throws(() => parseMac('0a:58:0a:f4:01'), /not a MAC address/);
  });
  test('addressMac: 0a:58 and the last 4 bytes of either family', () => {
    assert.equal(addressMac(ip('10.244.1.7')), '0a:58:0a:f4:01:07');
    assert.equal(addressMac(ip('fd00:10:244:1::a:7')), '0a:58:00:0a:00:07');
  });
  test('podMac: from the IPv4 address when there is one, else the IPv6 one', () => {
    assert.equal(podMac([ip('fd00::1:5'), ip('10.244.1.7')]), '0a:58:0a:f4:01:07');
    assert.equal(podMac([ip('fd00::1:5')]), '0a:58:00:01:00:05');
    assert.throws(() => podMac([]), /no address/);
  });
});

describe('podMac is the MAC planAdd gives the pod', () => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: { subnet: '10.244.1.0/24' } }));
  const cases: [string, string[]][] = [
    ['IPv4 only', ['10.244.1.7/24']],
    ['IPv6 only', ['fd00:10:244:1::2c/64']],
    ['dual-stack', ['10.244.1.9/24', 'fd00:10:244:1::9/64']],
  ];
  for (const [name, addresses] of cases) {
    test(name, () => {
      const cidrs = addresses.map((a) => parseCidr(a)!);
      const plan = planAdd(conf, { containerId: 'c', ifname: 'eth0', netns: '/run/netns/p' }, { ips: cidrs.map((address) => ({ address })), routes: [] });
      assert.equal(podMac(cidrs.map((c) => ({ family: c.family, value: c.address }))), plan.result.interfaces![2]!.mac);
    });
  }
});
