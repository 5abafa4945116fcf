// IPAM per family: IPv6 ranges of several sizes (/64, /120, /126), round-robin, exhaustion
// naming the family, the on-disk layout of IPv6 reservations, and proof that allocation walks
// only past reserved addresses: a /64 (2^64 addresses) is never enumerated.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { formatIp, parseCidr, parseIp } from '../../lib/cidr.ts';
import { allocate, freeCount } from '../../ipam/allocator.ts';
import { DiskStore, ipv6FileName, parseIpv6FileName } from '../../ipam/disk-store.ts';
import { IpamExhaustedError } from '../../ipam/errors.ts';
import { MemoryStore } from '../../ipam/memory-store.ts';
import { buildRange, candidates, rangeSize, type IpRange } from '../../ipam/range.ts';

const v6 = (text: string) => parseIp(text)!.value;
const show = (value: bigint) => formatIp({ family: 6, value });
const range6 = (subnet: string, options: { start?: string; end?: string } = {}): IpRange => {
  const cidr = parseCidr(subnet)!;
  return buildRange(cidr, { gateway: cidr.address + 1n, start: options.start ? v6(options.start) : undefined, end: options.end ? v6(options.end) : undefined });
};
const at = (i: number) => ({ containerId: `c${i}`, ifname: 'eth0' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ipam6-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

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
    assert.deepEqual(take(v6('fd00:10:244:1::41'), 3), ['fd00:10:244:1::42', 'fd00:10:244:1::43', 'fd00:10:244:1::44']);
    assert.deepEqual(take(v6('fd00:10:244:1:ffff:ffff:ffff:fffe'), 3), ['fd00:10:244:1:ffff:ffff:ffff:ffff', 'fd00:10:244:1::2', 'fd00:10:244:1::3']);
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

describe('IPv6 on disk', () => {
  test('file names: RFC 5952 text with - for :, and only the canonical spelling is read back', () => {
    const cases: [string, string][] = [
      ['fd00:10:244:1::a', 'fd00-10-244-1--a'],
      ['fd00::2', 'fd00--2'],
      ['2001:db8:0:0:1:0:0:1', '2001-db8--1-0-0-1'],
      ['1:2:3:4:5:6:7:8', '1-2-3-4-5-6-7-8'],
    ];
    for (const [address, name] of cases) {
      assert.equal(ipv6FileName(v6(address)), name);
      assert.equal(parseIpv6FileName(name), v6(address));
    }
    for (const bad of ['fd00::2', 'FD00--2', 'fd00-0--2', '10.0.0.1', 'fd00--2.123.tmp', '']) assert.equal(parseIpv6FileName(bad), undefined, bad);
  });

  test('the IPv6 store lives in ipv6/ beside the IPv4 one, which keeps its layout', () => {
    const dir = path.join(tmp, 'layout');
    const range4 = buildRange(parseCidr('10.9.0.0/24')!, { gateway: parseIp('10.9.0.1')!.value });
    const range = range6('fd00:10:244:1::/64');
    const a4 = allocate(new DiskStore(dir, 4), range4, at(1));
    const a6 = allocate(new DiskStore(dir, 6), range, at(1));
    assert.equal(formatIp({ family: 4, value: a4.ip }), '10.9.0.2');
    assert.equal(show(a6.ip), 'fd00:10:244:1::2');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['attachments', 'ips', 'ipv6', 'last_reserved_ip']);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ips')), ['10.9.0.2']);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ipv6', 'ips')), ['fd00-10-244-1--2']);
    assert.equal(fs.readFileSync(path.join(dir, 'ipv6', 'ips', 'fd00-10-244-1--2'), 'utf8'), 'c1\neth0\n');
    assert.equal(fs.readFileSync(path.join(dir, 'ipv6', 'attachments', 'c1:eth0'), 'utf8'), 'fd00-10-244-1--2\n');
    assert.equal(fs.readFileSync(path.join(dir, 'ipv6', 'last_reserved_ip'), 'utf8'), 'fd00-10-244-1--2\n');
    // Each family's store sees only its own reservations.
    assert.deepEqual(new DiskStore(dir, 4).list(), [{ ip: a4.ip, attachment: at(1) }]);
    assert.deepEqual(new DiskStore(dir, 6).list(), [{ ip: a6.ip, attachment: at(1) }]);
    assert.equal(new DiskStore(dir, 6).release(at(1)), a6.ip);
    assert.equal(new DiskStore(dir, 4).lookup(at(1)), a4.ip, 'releasing IPv6 keeps IPv4');
  });

  test('state written before dual-stack is read as the IPv4 store', () => {
    const dir = path.join(tmp, 'upgrade');
    fs.mkdirSync(path.join(dir, 'ips'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'attachments'));
    fs.writeFileSync(path.join(dir, 'ips', '10.9.0.7'), 'old\neth0\n');
    fs.writeFileSync(path.join(dir, 'attachments', 'old:eth0'), '10.9.0.7\n');
    fs.writeFileSync(path.join(dir, 'last_reserved_ip'), '10.9.0.7\n');
    const store = new DiskStore(dir);
    assert.equal(store.lookup({ containerId: 'old', ifname: 'eth0' }), 0x0a090007n);
    assert.equal(store.readCursor(), 0x0a090007n);
    assert.equal(new DiskStore(dir, 6).lookup({ containerId: 'old', ifname: 'eth0' }), undefined);
  });

  test('8 processes allocating IPv6 at once from a /120 never share an address', async () => {
    const dir = path.join(tmp, 'race6');
    const worker = path.join(import.meta.dirname, '../fixtures/allocate-worker.ts');
    const run = promisify(execFile);
    // 8 x 40 = 320 requests for 254 addresses: the last 66 must fail with IpamExhaustedError.
    const outputs = await Promise.all(Array.from({ length: 8 }, (_, w) => run(process.execPath, [worker, dir, String(w), '40', 'fd00:9::/120'])));
    const results = outputs.flatMap((o) => JSON.parse(o.stdout) as string[]);
    const addresses = results.filter((r) => !r.startsWith('!'));
    assert.equal(addresses.length, 254);
    assert.equal(new Set(addresses).size, 254, 'no address was handed out twice');
    assert.ok(addresses.every((a) => /^fd00:9::[0-9a-f]{1,2}$/.test(a) && a !== 'fd00:9::1'), 'all inside the range, never the gateway');
    assert.ok(results.filter((r) => r.startsWith('!')).every((r) => r === '!IpamExhaustedError'));
    const store = new DiskStore(dir, 6);
    assert.equal(store.list().length, 254);
  });
});
