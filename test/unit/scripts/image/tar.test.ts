// Our tar headers, read back by GNU tar: names, types, modes, owners, mtimes, contents; long names
// and link targets through pax headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TAR_END, tarHeader, tarPadding, type TarEntry } from '../../../../scripts/image/tar.ts';

test('GNU tar reads what tarHeader writes, long names and targets included', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-tar-'));
  try {
    const longDir = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}`;
    const longTarget = `../${'t'.repeat(120)}`;
    const content = Buffer.from('hello, layer\n');
    const entries: [TarEntry, Buffer?][] = [
      [{ path: 'deep', type: 'directory', mode: 0o755 }],
      [{ path: `deep/${'d'.repeat(60)}`, type: 'directory', mode: 0o755 }],
      [{ path: longDir, type: 'directory', mode: 0o700 }],
      [{ path: `${longDir}/file`, type: 'file', mode: 0o644, size: content.length }, content],
      [{ path: 'tmp', type: 'directory', mode: 0o1777 }],
      [{ path: 'tool', type: 'file', mode: 0o755, size: 0 }, Buffer.alloc(0)],
      [{ path: 'link', type: 'symlink', mode: 0o777, linkname: 'tool' }],
      [{ path: 'far', type: 'symlink', mode: 0o777, linkname: longTarget }],
    ];
    const parts: Buffer[] = [];
    for (const [entry, data] of entries) {
      parts.push(tarHeader(entry, 1_700_000_000));
      if (data) parts.push(data, tarPadding(data.length));
    }
    parts.push(TAR_END);
    const archive = path.join(dir, 'a.tar');
    fs.writeFileSync(archive, Buffer.concat(parts));

    const listing = spawnSync('tar', ['--numeric-owner', '--full-time', '-tvf', archive], { encoding: 'utf8', env: { TZ: 'UTC', PATH: process.env.PATH } });
    assert.equal(listing.status, 0, listing.stderr);
    const lines = listing.stdout.trim().split('\n');
    assert.equal(lines.length, entries.length);
    assert.ok(lines.every((line) => / 0\/0 .* 2023-11-14 22:13:20 /.test(line)), listing.stdout);
    assert.match(lines[2]!, new RegExp(`^drwx------ .* ${longDir}/$`));
    assert.match(lines[3]!, new RegExp(`^-rw-r--r-- 0/0 +13 .* ${longDir}/file$`));
    assert.match(lines[4]!, /^drwxrwxrwt .* tmp\/$/);
    assert.match(lines[6]!, /^lrwxrwxrwx .* link -> tool$/);
    assert.match(lines[7]!, new RegExp(`far -> \\.\\./t{120}$`));

    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const extract = spawnSync('tar', ['-xf', archive, '-C', out]);
    assert.equal(extract.status, 0, String(extract.stderr));
    assert.deepEqual(fs.readFileSync(path.join(out, longDir, 'file')), content);
    assert.equal(fs.readlinkSync(path.join(out, 'far')), longTarget);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('padding fills to the next 512-byte block; a symlink needs its target', () => {
  assert.equal(tarPadding(0).length, 0);
  assert.equal(tarPadding(1).length, 511);
  assert.equal(tarPadding(512).length, 0);
  assert.equal(tarPadding(513).length, 511);
  assert.throws(() => tarHeader({ path: 'x', type: 'symlink', mode: 0o777 }, 0), /symlink x has no target/);
  assert.equal(tarHeader({ path: 'x', type: 'file', mode: 0o644, size: 1 }, 0).length, 512);
});
