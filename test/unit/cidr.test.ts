import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrLast, cidrNetwork, formatIp, ipCidrContains, parseCidr, parseIp } from '../../lib/cidr.ts';

test('parseIp reads IPv4 as dotted quads only', () => {
  const cases: [string, bigint | undefined][] = [
    ['0.0.0.0', 0n],
    ['10.244.1.5', 0x0af40105n],
    ['255.255.255.255', 0xffffffffn],
    ['256.0.0.1', undefined],
    ['10.0.0', undefined],
    ['10.0.0.01', undefined],
    ['a.b.c.d', undefined],
    [' 10.0.0.1', undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseIp(text), want === undefined ? undefined : { family: 4, value: want }, text);
});

test('formatIp is the inverse of parseIp for IPv4', () => {
  for (const text of ['0.0.0.0', '10.244.1.5', '192.168.255.1', '255.255.255.255']) {
    assert.equal(formatIp(parseIp(text)!), text);
  }
});

test('parseCidr and prefix arithmetic for IPv4', () => {
  const cidr = parseCidr('10.244.1.77/24')!;
  const ip = (text: string) => parseIp(text)!;
  assert.equal(formatIp({ family: 4, value: cidrNetwork(cidr) }), '10.244.1.0');
  assert.equal(formatIp({ family: 4, value: cidrLast(cidr) }), '10.244.1.255');
  assert.ok(ipCidrContains(cidr, ip('10.244.1.1')));
  assert.ok(!ipCidrContains(cidr, ip('10.244.2.1')));
  assert.ok(ipCidrContains(parseCidr('0.0.0.0/0')!, ip('8.8.8.8')));
  assert.equal(formatIp({ family: 4, value: cidrLast(parseCidr('10.0.0.0/8')!) }), '10.255.255.255');
  assert.deepEqual(parseCidr('10.0.0.0/08'), parseCidr('10.0.0.0/8'), 'an IPv4 prefix length may have a leading zero');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/a', '10.0.0.0/008', 'x/24']) assert.equal(parseCidr(bad), undefined, bad);
});
