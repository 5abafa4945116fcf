import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseCidr, parseIp } from '../../lib/cidr.ts';
import { allocate, freeCount } from '../../ipam/allocator.ts';
import { IpamExhaustedError, IpamRangeError } from '../../ipam/errors.ts';
import { MemoryStore } from '../../ipam/memory-store.ts';
import { buildRange, candidates, rangeSize } from '../../ipam/range.ts';

const ip = (text: string) => parseIp(text)!.value;
const subnet = (text: string) => parseCidr(text)!;
const formatIpv4 = (value: bigint) => formatIp({ family: 4, value });

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
