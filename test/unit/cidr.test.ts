import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broadcastAddress, cidrContains, formatIpv4, networkAddress, parseIpv4, parseIpv4Cidr } from '../../lib/cidr.ts';

test('parseIpv4 accepts dotted quads and rejects everything else', () => {
  const cases: [string, number | undefined][] = [
    ['0.0.0.0', 0],
    ['10.244.1.5', 0x0af40105],
    ['255.255.255.255', 0xffffffff],
    ['256.0.0.1', undefined],
    ['10.0.0', undefined],
    ['10.0.0.01', undefined],
    ['a.b.c.d', undefined],
    [' 10.0.0.1', undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseIpv4(text), want, text);
});

test('formatIpv4 is the inverse of parseIpv4', () => {
  for (const text of ['0.0.0.0', '10.244.1.5', '192.168.255.1', '255.255.255.255']) {
    assert.equal(formatIpv4(parseIpv4(text)!), text);
  }
});

test('parseIpv4Cidr and prefix arithmetic', () => {
  const cidr = parseIpv4Cidr('10.244.1.77/24')!;
  assert.equal(formatIpv4(networkAddress(cidr)), '10.244.1.0');
  assert.equal(formatIpv4(broadcastAddress(cidr)), '10.244.1.255');
  assert.ok(cidrContains(cidr, parseIpv4('10.244.1.1')!));
  assert.ok(!cidrContains(cidr, parseIpv4('10.244.2.1')!));
  const all = parseIpv4Cidr('0.0.0.0/0')!;
  assert.ok(cidrContains(all, parseIpv4('8.8.8.8')!));
  assert.equal(formatIpv4(broadcastAddress(parseIpv4Cidr('10.0.0.0/8')!)), '10.255.255.255');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/a', 'x/24']) assert.equal(parseIpv4Cidr(bad), undefined, bad);
});
