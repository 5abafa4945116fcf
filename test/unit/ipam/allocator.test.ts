// ipam/range.ts and ipam/allocator.ts on the memory store, per family: ranges of several sizes
// (/24, /64, /120, /126), round-robin, exhaustion naming the family, and proof that allocation
// walks only past reserved addresses: a /64 (2^64 addresses) is never enumerated.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseCidr, parseIp } from '../../../lib/cidr.ts';
import { allocate, freeCount } from '../../../ipam/allocator.ts';
import { IpamExhaustedError, IpamRangeError } from '../../../ipam/errors.ts';
import { MemoryStore } from '../../../ipam/memory-store.ts';
import { buildRange, candidates, type IpRange, rangeSize } from '../../../ipam/range.ts';

const ip = (text: string) => parseIp(text)!.value;
const subnet = (text: string) => parseCidr(text)!;
const formatIpv4 = (value: bigint) => formatIp({ family: 4, value });
const show = (value: bigint) => formatIp({ family: 6, value });
const range6 = (subnet: string, options: { start?: string; end?: string } = {}): IpRange => {
  const cidr = parseCidr(subnet)!;
  return buildRange(cidr, { gateway: cidr.address + 1n, start: options.start ? ip(options.start) : undefined, end: options.end ? ip(options.end) : undefined });
};
const at = (i: number) => ({ containerId: `c${i}`, ifname: 'eth0' });

describe('range', () => {
  test('a /24 offers 253 addresses: not network, broadcast or gateway', () => {
    const range = buildRange(subnet('10.244.1.0/24'), { gateway: ip('10.244.1.1') });
    assert.equal(rangeSize(range), 253n);
    const all = [...candidates(range, undefined)].map(formatIpv4);
    assert.equal(all.length, 253);
    assert.equal(all[0], '10.244.1.2');
    assert.equal(all.at(-1), '10.244.1.254');
    assert.ok(!all.includes('10.244.1.1'));
  });

  test('candidates start after the cursor and wrap around', () => {
    const range = buildRange(subnet('10.0.0.0/29'), { gateway: ip('10.0.0.1') });
    assert.deepEqual([...candidates(range, ip('10.0.0.4'))].map(formatIpv4), ['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    // A cursor outside the range (config changed) restarts at the beginning.
    assert.equal(formatIpv4(candidates(range, ip('192.168.0.1')).next().value!), '10.0.0.2');
  });

  test('rangeStart/rangeEnd narrow the pool; invalid ones are rejected with the key name', () => {
    const range = buildRange(subnet('10.0.0.0/24'), { start: ip('10.0.0.10'), end: ip('10.0.0.12'), gateway: ip('10.0.0.1') });
    assert.deepEqual([...candidates(range, undefined)].map(formatIpv4), ['10.0.0.10', '10.0.0.11', '10.0.0.12']);
    assert.throws(() => buildRange(subnet('10.0.0.0/24'), { start: ip('10.0.1.5') }), (e: Error) => e instanceof IpamRangeError && /rangeStart/.test(e.message));
    assert.throws(() => buildRange(subnet('10.0.0.0/24'), { start: ip('10.0.0.9'), end: ip('10.0.0.8') }), /after rangeEnd/);
    assert.throws(() => buildRange(subnet('10.0.0.0/31')), /too small/);
  });
});

describe('allocator on the memory store', () => {
  const range = buildRange(subnet('10.0.0.0/29'), { gateway: ip('10.0.0.1') });

  test('hands out distinct addresses round-robin and reports exhaustion clearly', () => {
    const store = new MemoryStore();
    const got = [1, 2, 3, 4, 5].map((i) => formatIpv4(allocate(store, range, { containerId: `c${i}`, ifname: 'eth0' }).ip));
    assert.deepEqual(got, ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    assert.equal(freeCount(store, range), 0n);
    assert.throws(() => allocate(store, range, { containerId: 'c6', ifname: 'eth0' }), (e: Error) => e instanceof IpamExhaustedError && /no free IPv4 address in 10\.0\.0\.1-10\.0\.0\.6: all 5 are reserved/.test(e.message));
    // The failed attempt leaves no index entry behind.
    assert.ok(!store.listAttachments().some((a) => a.containerId === 'c6'));
  });

  test('one attachment holds at most one address; a retried ADD gets it back, not fresh', () => {
    const store = new MemoryStore();
    const first = allocate(store, range, { containerId: 'c1', ifname: 'eth0' });
    const again = allocate(store, range, { containerId: 'c1', ifname: 'eth0' });
    assert.deepEqual(again, { ip: first.ip, fresh: false });
    const otherIf = allocate(store, range, { containerId: 'c1', ifname: 'net1' });
    assert.notEqual(otherIf.ip, first.ip);
    assert.equal(store.reservedAddresses().size, 2);
  });

  test('a released address is reused only after the rest of the range', () => {
    const store = new MemoryStore();
    const a = allocate(store, range, { containerId: 'a', ifname: 'eth0' });
    store.release({ containerId: 'a', ifname: 'eth0' });
    const b = allocate(store, range, { containerId: 'b', ifname: 'eth0' });
    assert.notEqual(b.ip, a.ip);
    assert.equal(store.release({ containerId: 'never', ifname: 'eth0' }), undefined);
  });
});
describe('IPv6 ranges', () => {
  const cases: [string, bigint, string, string][] = [
    ['fd00:10:244:1::/64', (1n << 64n) - 2n, 'fd00:10:244:1::2', 'fd00:10:244:1::3'],
    ['fd00::/120', 254n, 'fd00::2', 'fd00::3'],
    ['fd00::/126', 2n, 'fd00::2', 'fd00::3'],
  ];
  for (const [subnet, size, first, second] of cases) {
    test(`${subnet}: ${size} pod addresses, the first two ${first} and ${second}`, () => {
      const range = range6(subnet);
      assert.equal(rangeSize(range), size);
      const it = candidates(range, undefined);
      assert.deepEqual([show(it.next().value!), show(it.next().value!)], [first, second]);
    });
  }

  test('candidates of a /64 are lazy: the first three come at once, after the cursor, and wrap at the end', () => {
    const range = range6('fd00:10:244:1::/64');
    const take = (cursor: bigint | undefined, n: number) => {
      const out: string[] = [];
      for (const ip of candidates(range, cursor)) if (out.push(show(ip)) === n) break;
      return out;
    };
    assert.deepEqual(take(ip('fd00:10:244:1::41'), 3), ['fd00:10:244:1::42', 'fd00:10:244:1::43', 'fd00:10:244:1::44']);
    assert.deepEqual(take(ip('fd00:10:244:1:ffff:ffff:ffff:fffe'), 3), ['fd00:10:244:1:ffff:ffff:ffff:ffff', 'fd00:10:244:1::2', 'fd00:10:244:1::3']);
  });
});

/** A memory store that counts how often the allocator asks for an address. */
class CountingStore extends MemoryStore {
  reserveCalls = 0;
  override reserve(ip: bigint, attachment: { containerId: string; ifname: string }): boolean {
    this.reserveCalls++;
    return super.reserve(ip, attachment);
  }
}

describe('IPv6 allocation', () => {
  test('a /64 with 2000 reservations allocates in milliseconds, past the reserved, trying one address', () => {
    const range = range6('fd00:10:244:1::/64');
    const store = new CountingStore(6);
    for (let i = 0; i < 2000; i++) allocate(store, range, at(i));
    store.reserveCalls = 0;
    store.writeCursor(range.start); // the next candidate is ::2, and ::2..::7d1 are all taken
    const started = performance.now();
    const got = allocate(store, range, at(99999));
    const elapsed = performance.now() - started;
    assert.equal(show(got.ip), 'fd00:10:244:1::7d2');
    assert.equal(store.reserveCalls, 1, 'reserved addresses are skipped without a store call');
    // Generous: walking the /64 would take ~10^10 years; 2000 skips take well under a millisecond.
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
    assert.equal(freeCount(store, range), (1n << 64n) - 2n - 2001n);
  });

  test('a full /120 is refused naming IPv6 without trying a single address', () => {
    const range = range6('fd00::/120');
    const store = new CountingStore(6);
    for (let i = 0; i < 254; i++) allocate(store, range, at(i));
    assert.equal(freeCount(store, range), 0n);
    store.reserveCalls = 0;
    assert.throws(
      () => allocate(store, range, at(999)),
      (e: unknown) => e instanceof IpamExhaustedError && /^no free IPv6 address in fd00::1-fd00::ff: all 254 are reserved/.test(e.message),
    );
    assert.equal(store.reserveCalls, 0);
    assert.ok(!store.listAttachments().some((a) => a.containerId === 'c999'));
  });

  test('round-robin per family: a released IPv6 address comes back only after the rest of a /126', () => {
    const range = range6('fd00::/126');
    const store = new MemoryStore(6);
    const a = allocate(store, range, at(1));
    store.release(at(1));
    const b = allocate(store, range, at(2));
    const c = allocate(store, range, at(3));
    assert.deepEqual([a, b, c].map((x) => show(x.ip)), ['fd00::2', 'fd00::3', 'fd00::2']);
    assert.deepEqual(allocate(store, range, at(2)), { ip: b.ip, fresh: false }, 'one address per attachment');
  });
});

