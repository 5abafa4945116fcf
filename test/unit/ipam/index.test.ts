// ipam/index.ts, the one door to IPAM from outside ipam/: the release path that DEL, GC and
// doctor --fix-leaks share, and the inventories GC and the doctor read (that nothing outside
// ipam/ reaches past the door is one of test/unit/imports.test.ts's rules).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseIp } from '../../../lib/cidr.ts';
import { inventory, networkDir, openStores, releaseAttachment, storedAttachments, sweepDebris } from '../../../ipam/index.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-ipam-door-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const v4 = (text: string) => parseIp(text)!.value;
const pod = { containerId: 'pod', ifname: 'eth0' };
const other = { containerId: 'other', ifname: 'eth0' };

test('a network\'s stores live in <dataDir>/<network>, IPv6 under ipv6/, each opened once', () => {
  const dir = networkDir(tmp, 'layout');
  assert.equal(dir, path.join(tmp, 'layout'));
  const stores = openStores(dir);
  assert.equal(stores(4), stores(4));
  stores(4).reserve(v4('10.1.0.2'), pod);
  stores(6).reserve(v4('fd00::2'), pod);
  assert.ok(fs.existsSync(path.join(dir, 'ips', '10.1.0.2')));
  assert.ok(fs.existsSync(path.join(dir, 'ipv6', 'ips', 'fd00--2')));
});

test('releaseAttachment frees the attachment\'s addresses of the given families, and only its own', () => {
  const stores = openStores(networkDir(tmp, 'release'));
  stores(4).reserve(v4('10.1.0.2'), pod);
  stores(6).reserve(v4('fd00::2'), pod);
  stores(4).reserve(v4('10.1.0.3'), other);

  assert.deepEqual(releaseAttachment(stores, pod, [6]), [{ family: 6, ip: v4('fd00::2') }]);
  assert.equal(stores(4).lookup(pod), v4('10.1.0.2'), 'a family not asked for is kept');
  assert.deepEqual(releaseAttachment(stores, pod), [{ family: 4, ip: v4('10.1.0.2') }]);
  assert.deepEqual(releaseAttachment(stores, pod), [], 'nothing held is success');
  assert.equal(stores(4).lookup(other), v4('10.1.0.3'));
});

test('storedAttachments: owners and index entries of both families, each once', () => {
  const dir = networkDir(tmp, 'attachments');
  const stores = openStores(dir);
  stores(4).reserve(v4('10.1.0.2'), pod);
  stores(6).reserve(v4('fd00::2'), pod);
  // An index entry without its claim: an ADD killed between the two writes.
  fs.writeFileSync(path.join(dir, 'attachments', 'crashed:eth0'), '10.1.0.9\n');
  assert.deepEqual(storedAttachments(stores).map((a) => a.containerId).sort(), ['crashed', 'pod']);
});

test('inventory lists reservations of both families with when they were made; sweepDebris counts dead writers\' temp files', () => {
  const dir = networkDir(tmp, 'inventory');
  const stores = openStores(dir);
  const before = Date.now() - 1000;
  stores(6).reserve(v4('fd00::2'), pod);
  stores(4).reserve(v4('10.1.0.2'), other);
  const entries = inventory(stores);
  assert.deepEqual(entries.map(({ family, ip, attachment }) => ({ family, ip, attachment })), [
    { family: 4, ip: v4('10.1.0.2'), attachment: other },
    { family: 6, ip: v4('fd00::2'), attachment: pod },
  ]);
  assert.ok(entries.every((e) => e.reservedAt !== undefined && e.reservedAt >= before));

  // pid 2^22+1 is above any pid_max: its writer is gone.
  fs.writeFileSync(path.join(dir, 'ips', `10.1.0.7.${2 ** 22 + 1}.tmp`), 'x');
  assert.equal(sweepDebris(stores), 1);
});
