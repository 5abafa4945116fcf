// A plugin SIGKILLed between writing a temporary file and linking or renaming it (crash chaos,
// issue 8) leaves "<name>.<pid>.tmp" behind, which no reader looks at and nothing else removes:
// GC's sweepDebris() must remove those of dead writers and keep those of live ones.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseIp } from '../../../lib/cidr.ts';
import { DiskStore } from '../../../ipam/disk-store.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-debris-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const child = spawnSync('/bin/true');
  assert.equal(child.status, 0);
  return child.pid!;
}

test('sweepDebris removes temporary files of dead writers only, and no reservation', () => {
  const dir = path.join(tmp, 'store');
  const store = new DiskStore(dir);
  assert.ok(store.reserve(parseIp('10.9.0.5')!.value, { containerId: 'c1', ifname: 'eth0' }));
  const dead = deadPid();
  const debris = [`ips/10.9.0.6.${dead}.tmp`, `attachments/c2:eth0.${dead}.tmp`, `last_reserved_ip.${dead}.tmp`];
  const inFlight = `ips/10.9.0.7.${process.pid}.tmp`;
  for (const file of [...debris, inFlight]) fs.writeFileSync(path.join(dir, file), 'c2\neth0\n');

  assert.equal(store.sweepDebris(), 3);
  for (const file of debris) assert.ok(!fs.existsSync(path.join(dir, file)), `${file} removed`);
  assert.ok(fs.existsSync(path.join(dir, inFlight)), 'a live writer keeps its temporary file');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'ips')).sort(), ['10.9.0.5', path.basename(inFlight)]);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'attachments')), ['c1:eth0']);
  assert.equal(store.sweepDebris(), 0, 'idempotent');
});

test('sweepDebris on a store that was never written is a no-op', () => {
  assert.equal(new DiskStore(path.join(tmp, 'never')).sweepDebris(), 0);
});
