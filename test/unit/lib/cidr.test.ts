// lib/cidr.ts: addresses and CIDRs of both families, parsed strictly and printed canonically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrLast, cidrNetwork, cidrsOverlap, familyOf, formatCidr, formatIp, formatIpv6, type IpCidr, ipCidrContains, nextAfter, parseCidr, parseIp, parseIpv6 } from '../../../lib/cidr.ts';

const v6 = (text: string): bigint => {
  const value = parseIpv6(text);
  assert.notEqual(value, undefined, text);
  return value!;
};
const cidr = (text: string): IpCidr => {
  const parsed = parseCidr(text);
  assert.ok(parsed, text);
  return parsed;
};

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
test('parseIpv6 reads every RFC 4291 text form of hex groups and refuses the rest', () => {
  const cases: [string, bigint | undefined][] = [
    ['::', 0n],
    ['::1', 1n],
    ['1::', 1n << 112n],
    ['fd00::', 0xfd00n << 112n],
    ['FD00:0:0:0:0:0:0:1', (0xfd00n << 112n) | 1n],
    ['fd00:0000:0000:0000:0000:0000:0000:0001', (0xfd00n << 112n) | 1n],
    ['2001:db8::8:800:200c:417a', 0x20010db80000000000080800200c417an],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', (1n << 128n) - 1n],
    ['1:2:3:4:5:6:7::', 0x0001000200030004000500060007_0000n],
    ['::2:3:4:5:6:7:8', 0x0000000200030004000500060007_0008n],
    // refused
    ['', undefined],
    [':', undefined],
    [':::', undefined],
    ['1::2::3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7', undefined],
    ['1:2:3:4:5:6:7:8::', undefined],
    ['::1:2:3:4:5:6:7:8', undefined],
    [':1::', undefined],
    ['1::2:', undefined],
    ['12345::', undefined],
    ['g::', undefined],
    ['fe80::1%eth0', undefined],
    ['::ffff:10.0.0.1', undefined],
    ['10.0.0.1', undefined],
    [' ::1', undefined],
    ['::1 ', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseIpv6(text), want, text);
});

test('formatIpv6 writes RFC 5952 canonical text', () => {
  const cases: [string, string][] = [
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // lowercase, no leading zeros
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // a tie: the first run is compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    ['fd00:10:244:1::', 'fd00:10:244:1::'],
    ['fd00:10:244:1:0:0:0:a', 'fd00:10:244:1::a'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['0:1:0:1:0:1:0:1', '0:1:0:1:0:1:0:1'],
  ];
  for (const [text, want] of cases) assert.equal(formatIpv6(v6(text)), want, text);
  for (const text of ['::', '::1', 'fd00::1', '2001:db8:1:2:3:4:5:6', 'fe80::a:b']) assert.equal(formatIpv6(v6(text)), text);
  assert.throws(() => formatIpv6(-1n), RangeError);
  assert.throws(() => formatIpv6(1n << 128n), RangeError);
});

test('parseCidr takes IPv6 prefix lengths 0..128 without leading zeros', () => {
  assert.deepEqual(parseCidr('fd00::/64'), { family: 6, address: 0xfd00n << 112n, prefixLength: 64 });
  assert.deepEqual(parseCidr('::/0'), { family: 6, address: 0n, prefixLength: 0 });
  assert.deepEqual(parseCidr('::1/128'), { family: 6, address: 1n, prefixLength: 128 });
  for (const bad of ['fd00::', 'fd00::/129', 'fd00::/064', 'fd00::/', 'fd00::/a', 'x/64']) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('parseCidr and parseIp return either family and refuse IPv4-mapped IPv6', () => {
  assert.deepEqual(parseCidr('10.244.1.0/24'), { family: 4, address: 0x0af40100n, prefixLength: 24 });
  assert.deepEqual(parseCidr('fd00:10:244:1::/64'), { family: 6, address: 0xfd000010024400010000000000000000n, prefixLength: 64 });
  assert.deepEqual(parseIp('10.0.0.1'), { family: 4, value: 0x0a000001n });
  assert.deepEqual(parseIp('fd00::1'), { family: 6, value: (0xfd00n << 112n) | 1n });
  for (const bad of ['::ffff:a00:1', '::ffff:0:0', 'nonsense', '']) assert.equal(parseIp(bad), undefined, bad);
  for (const bad of ['::ffff:0:0/96', '::ffff:a00:0/120', '10.0.0.0', 'fd00::/129']) assert.equal(parseCidr(bad), undefined, bad);
  // ::ffff:0:0 is refused, but its neighbours are ordinary addresses
  assert.equal(parseIp('::fffe:0:0')?.family, 6);
  assert.equal(parseIp('::1:0:0:0')?.family, 6);
});

test('familyOf names the family of an address or CIDR text', () => {
  const cases: [string, 4 | 6 | undefined][] = [
    ['10.0.0.1', 4],
    ['10.244.0.0/16', 4],
    ['fd00::1', 6],
    ['fd00::/48', 6],
    ['::/0', 6],
    ['fd00', undefined],
    ['10.0.0', undefined],
    ['', undefined],
  ];
  for (const [text, want] of cases) assert.equal(familyOf(text), want, text);
});

test('formatCidr and formatIp print both families', () => {
  for (const text of ['10.244.1.0/24', '0.0.0.0/0', 'fd00:10:244:1::/64', '::/0', 'fd00::5/120']) {
    assert.equal(formatCidr(cidr(text)), text);
  }
  assert.equal(formatCidr(cidr('FD00:0010:0244:0001:0000::/64')), 'fd00:10:244:1::/64');
  assert.equal(formatCidr(cidr('10.1.2.3/8')), '10.1.2.3/8'); // the address as written, not the network
  assert.equal(formatIp({ family: 4, value: 0x0a000001n }), '10.0.0.1');
  assert.equal(formatIp({ family: 6, value: 1n }), '::1');
});

test('network, last address and containment per family', () => {
  const cases: [string, string, string][] = [
    ['10.244.1.77/24', '10.244.1.0', '10.244.1.255'],
    ['10.0.0.0/8', '10.0.0.0', '10.255.255.255'],
    ['0.0.0.0/0', '0.0.0.0', '255.255.255.255'],
    ['10.0.0.5/32', '10.0.0.5', '10.0.0.5'],
    ['fd00:10:244:1::77/64', 'fd00:10:244:1::', 'fd00:10:244:1:ffff:ffff:ffff:ffff'],
    ['fd00::1234/120', 'fd00::1200', 'fd00::12ff'],
    ['fd00::7/126', 'fd00::4', 'fd00::7'],
    ['::/0', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['fd00::9/128', 'fd00::9', 'fd00::9'],
  ];
  for (const [text, network, last] of cases) {
    const c = cidr(text);
    assert.equal(formatIp({ family: c.family, value: cidrNetwork(c) }), network, text);
    assert.equal(formatIp({ family: c.family, value: cidrLast(c) }), last, text);
  }
  const pods = cidr('fd00:10:244:1::/64');
  assert.ok(ipCidrContains(pods, parseIp('fd00:10:244:1:ffff::1')!));
  assert.ok(!ipCidrContains(pods, parseIp('fd00:10:244:2::1')!));
  assert.ok(ipCidrContains(cidr('::/0'), parseIp('2001:db8::1')!));
  // the family matters even where the bits would match
  assert.ok(!ipCidrContains(cidr('::/96'), parseIp('10.0.0.1')!));
  assert.ok(!ipCidrContains(cidr('0.0.0.0/0'), parseIp('::1')!));
});

test('cidrsOverlap per family', () => {
  const cases: [string, string, boolean][] = [
    ['10.244.0.0/16', '10.244.1.0/24', true],
    ['10.244.1.0/24', '10.244.2.0/24', false],
    ['fd00:10:244::/48', 'fd00:10:244:1::/64', true],
    ['fd00:10:244:1::/64', 'fd00:10:244:2::/64', false],
    ['::/96', '0.0.0.0/0', false],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(cidrsOverlap(cidr(a), cidr(b)), want, `${a} ${b}`);
    assert.equal(cidrsOverlap(cidr(b), cidr(a)), want, `${b} ${a}`);
  }
});

test('nextAfter steps round-robin over a span and wraps', () => {
  const first = v6('fd00::1');
  const last = v6('fd00:0:0:0:ffff:ffff:ffff:fffe');
  const cases: [bigint | undefined, bigint][] = [
    [undefined, first],
    [first, first + 1n],
    [first + 41n, first + 42n],
    [last - 1n, last],
    [last, first], // wrap
    [first - 1n, first], // a cursor from an older, different range
    [last + 1n, first],
  ];
  for (const [cursor, want] of cases) assert.equal(nextAfter(first, last, cursor), want, String(cursor));
  assert.equal(nextAfter(5n, 5n, 5n), 5n); // a span of one
});

test('the masks made once give every prefix length of both families its network and last address', () => {
  // Against the arithmetic written out: bit i of the address survives in the network if i < prefix.
  for (const [family, bits, address] of [[4, 32, parseIp('203.0.113.77')!.value], [6, 128, parseIp('fd00:10:244:1:ffff:abcd:1234:5678')!.value]] as const) {
    for (let prefixLength = 0; prefixLength <= bits; prefixLength++) {
      const c: IpCidr = { family, address, prefixLength };
      const hostBits = BigInt(bits - prefixLength);
      assert.equal(cidrNetwork(c), (address >> hostBits) << hostBits, `${family}/${prefixLength}`);
      assert.equal(cidrLast(c), ((address >> hostBits) << hostBits) + (1n << hostBits) - 1n, `${family}/${prefixLength}`);
    }
  }
  assert.equal(formatIp(parseIp('0.0.0.0')!), '0.0.0.0');
  assert.equal(formatIp(parseIp('255.255.255.255')!), '255.255.255.255');
});
