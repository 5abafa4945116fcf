// ipam/disk-store.ts: reservations that survive the process, crash windows that DEL and readers
// tolerate, concurrent allocators that never share an address, and each family's layout on disk.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { formatIp, parseCidr, parseIp } from '../../../lib/cidr.ts';
import { allocate } from '../../../ipam/allocator.ts';
import { DiskStore, ipv6FileName, parseIpv6FileName } from '../../../ipam/disk-store.ts';
import { IpamStoreError } from '../../../ipam/errors.ts';
import { buildRange, type IpRange } from '../../../ipam/range.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ipam-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const range = buildRange(parseCidr('10.9.0.0/24')!, { gateway: parseIp('10.9.0.1')!.value });
const formatIpv4 = (value: bigint) => formatIp({ family: 4, value });
const v6 = (text: string) => parseIp(text)!.value;
const show = (value: bigint) => formatIp({ family: 6, value });
const range6 = (subnet: string, options: { start?: string; end?: string } = {}): IpRange => {
  const cidr = parseCidr(subnet)!;
  return buildRange(cidr, { gateway: cidr.address + 1n, start: options.start ? v6(options.start) : undefined, end: options.end ? v6(options.end) : undefined });
};
const at = (i: number) => ({ containerId: `c${i}`, ifname: 'eth0' });

describe('DiskStore', () => {
  test('reservations survive a new process (a new store object on the same dir)', () => {
    const dir = path.join(tmp, 'persist');
    const a = allocate(new DiskStore(dir), range, { containerId: 'c1', ifname: 'eth0' });
    const reopened = new DiskStore(dir);
    assert.equal(reopened.lookup({ containerId: 'c1', ifname: 'eth0' }), a.ip);
    assert.deepEqual(reopened.list(), [{ ip: a.ip, attachment: { containerId: 'c1', ifname: 'eth0' } }]);
    assert.equal(fs.readFileSync(path.join(dir, 'ips', formatIpv4(a.ip)), 'utf8'), 'c1\neth0\n');
    const b = allocate(reopened, range, { containerId: 'c2', ifname: 'eth0' });
    assert.equal(b.ip, a.ip + 1n, 'the cursor persisted too');
  });

  test('a crash between the index write and the address claim leaves nothing that DEL misreads', () => {
    const dir = path.join(tmp, 'crash');
    const store = new DiskStore(dir);
    const owner = allocate(store, range, { containerId: 'owner', ifname: 'eth0' });
    // Simulate "victim" dying after writing its index entry for owner's address.
    fs.writeFileSync(path.join(dir, 'attachments', 'victim:eth0'), `${formatIpv4(owner.ip)}\n`);
    assert.equal(store.lookup({ containerId: 'victim', ifname: 'eth0' }), undefined);
    assert.equal(store.release({ containerId: 'victim', ifname: 'eth0' }), undefined);
    assert.equal(store.lookup({ containerId: 'owner', ifname: 'eth0' }), owner.ip, 'the real owner keeps its address');
    // Leftover temp files from a crash are not mistaken for reservations.
    fs.writeFileSync(path.join(dir, 'ips', '10.9.0.77.123.tmp'), 'x\ny\n');
    assert.equal(store.reservedAddresses().size, 1);
  });

  test('release frees only what the attachment owns, and is idempotent', () => {
    const dir = path.join(tmp, 'release');
    const store = new DiskStore(dir);
    const a = allocate(store, range, { containerId: 'a', ifname: 'eth0' });
    assert.equal(store.release({ containerId: 'a', ifname: 'eth0' }), a.ip);
    assert.equal(store.release({ containerId: 'a', ifname: 'eth0' }), undefined);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ips')), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'attachments')), []);
  });

  test('8 processes allocating at once never share an address and stop cleanly at exhaustion', async () => {
    const dir = path.join(tmp, 'race');
    const worker = path.join(import.meta.dirname, '../../fixtures/allocate-worker.ts');
    const run = promisify(execFile);
    // 8 x 40 = 320 requests for 253 addresses: the last 67 must fail with IpamExhaustedError.
    const outputs = await Promise.all(
      Array.from({ length: 8 }, (_, w) => run(process.execPath, [worker, dir, String(w), '40', '10.9.0.0/24'])),
    );
    const results = outputs.flatMap((o) => JSON.parse(o.stdout) as string[]);
    const addresses = results.filter((r) => !r.startsWith('!'));
    assert.equal(addresses.length, 253);
    assert.equal(new Set(addresses).size, 253, 'no address was handed out twice');
    assert.ok(results.filter((r) => r.startsWith('!')).every((r) => r === '!IpamExhaustedError'));
    const store = new DiskStore(dir);
    assert.equal(store.list().length, 253);
    for (const { ip, attachment } of store.list()) assert.equal(store.lookup(attachment), ip);
  });

  test('a write that fails is an IpamStoreError naming the path, and the allocation holds nothing', () => {
    const dir = path.join(tmp, 'write-fails');
    const store = new DiskStore(dir);
    store.checkUsable();
    // A directory where the claim's temp file must go: writing it fails (EISDIR), even as root.
    const blocker = path.join(dir, 'ips', `10.9.0.2.${process.pid}.tmp`);
    fs.mkdirSync(blocker);
    const attachment = { containerId: 'c1', ifname: 'eth0' };
    assert.throws(
      () => allocate(store, range, attachment),
      (e: unknown) => e instanceof IpamStoreError && e.message.includes(blocker) && /EISDIR/.test(e.message),
    );
    fs.rmdirSync(blocker);
    assert.equal(store.lookup(attachment), undefined);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'attachments')), [], 'the index entry was taken back');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'ips')), []);
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
    const worker = path.join(import.meta.dirname, '../../fixtures/allocate-worker.ts');
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
