import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BinaryInstaller, sameFileContent, writeFileIfChanged } from '../../../../daemonset/host/install.ts';

test('BinaryInstaller installs once, notices removal and replacement, leaves no temp files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-install-'));
  try {
    const source = path.join(dir, 'plugin');
    fs.writeFileSync(source, Buffer.alloc(3 * (1 << 20) + 7, 1));
    const target = path.join(dir, 'bin', 'bridgeway');
    const installer = new BinaryInstaller(source, target);
    assert.equal(installer.ensure(), 'written');
    assert.ok(sameFileContent(source, target));
    assert.equal(fs.statSync(target).mode & 0o777, 0o755);
    assert.equal(installer.ensure(), 'unchanged');
    // Same size, one byte different in the last chunk: found and replaced.
    const tampered = fs.readFileSync(target);
    tampered[tampered.length - 1] = 2;
    fs.writeFileSync(target, tampered);
    assert.equal(installer.ensure(), 'written');
    fs.rmSync(target);
    assert.equal(installer.ensure(), 'written');
    // A fresh process finding an identical copy does not rewrite it.
    assert.equal(new BinaryInstaller(source, target).ensure(), 'unchanged');
    assert.deepEqual(fs.readdirSync(path.dirname(target)), ['bridgeway']);
    assert.throws(() => new BinaryInstaller(path.join(dir, 'nope'), target + '2').ensure(), /does not exist \(set --plugin-binary\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileIfChanged writes only on change', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-write-'));
  try {
    const file = path.join(dir, 'net.d', 'x.conflist');
    assert.equal(writeFileIfChanged(file, 'a'), 'written');
    assert.equal(writeFileIfChanged(file, 'a'), 'unchanged');
    assert.equal(writeFileIfChanged(file, 'b'), 'written');
    assert.equal(fs.readFileSync(file, 'utf8'), 'b');
    assert.deepEqual(fs.readdirSync(path.dirname(file)), ['x.conflist']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
