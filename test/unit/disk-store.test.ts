import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { formatIp, parseCidr, parseIp } from '../../lib/cidr.ts';
import { allocate } from '../../ipam/allocator.ts';
import { DiskStore } from '../../ipam/disk-store.ts';
import { IpamStoreError } from '../../ipam/errors.ts';
import { buildRange } from '../../ipam/range.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ipam-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const range = buildRange(parseCidr('10.9.0.0/24')!, { gateway: parseIp('10.9.0.1')!.value });
const formatIpv4 = (value: bigint) => formatIp({ family: 4, value });

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
    const worker = path.join(import.meta.dirname, '../fixtures/allocate-worker.ts');
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
