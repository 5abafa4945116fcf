// image/minimal-rootfs.sh run in this machine's own Debian root (it only reads it, and writes the
// new root into a temp dir), with package lists of the test's own: what it keeps (symlinks as
// symlinks, the merged-/usr links, the ldd closure of kept and given executables), --link, one
// mtime, and that a bad list fails with a clear message and leaves no half-made root. The image
// test runs it on the real list, in the Dockerfile's stage.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const REPO = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(REPO, 'image/minimal-rootfs.sh');
const installed = (pkg: string) => spawnSync('dpkg-query', ['-W', '-f=${db:Status-Status}', pkg], { encoding: 'utf8' }).stdout === 'installed';
const skip = process.getuid?.() !== 0 ? 'needs root (the new root is owned by 0:0)'
  : !installed('iptables') || !installed('coreutils') ? 'needs a Debian machine with iptables installed' : false;

/** Runs the script from a copy next to its own `packages` file. */
function cut(packages: string, args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; dir: string; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-rootfs-'));
  fs.copyFileSync(SCRIPT, path.join(dir, 'minimal-rootfs.sh'));
  fs.chmodSync(path.join(dir, 'minimal-rootfs.sh'), 0o755);
  fs.writeFileSync(path.join(dir, 'packages'), packages);
  const out = path.join(dir, 'root');
  const run = spawnSync(path.join(dir, 'minimal-rootfs.sh'), ['build', out, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH!, ...env } });
  return { status: run.status, stderr: run.stderr, dir, out };
}

describe('image/minimal-rootfs.sh', { skip }, () => {
  test('keeps the listed paths, the libraries of every kept ELF file and given executable, and nothing else of the packages', () => {
    const { status, stderr, dir, out } = cut('# a comment\niptables /usr/sbin/xtables-nft-multi /usr/sbin/iptables-nft-sa*   # trailing\ncoreutils\n', ['--link', '/usr/local/bin/alias=tool', '/usr/bin/true'], { SOURCE_DATE_EPOCH: '1700000000' });
    try {
      assert.equal(status, 0, stderr);
      const lstat = (p: string) => fs.lstatSync(path.join(out, p), { throwIfNoEntry: false });
      assert.ok(lstat('usr/sbin/xtables-nft-multi')?.isFile());
      assert.equal(fs.readlinkSync(path.join(out, 'usr/sbin/iptables-nft-save')), 'xtables-nft-multi', 'a glob, and the symlink kept as one');
      assert.ok(!lstat('usr/sbin/iptables-nft-restore'), 'only what the list names');
      assert.ok(!lstat('usr/bin/true'), 'a given executable gives its libraries, not itself');
      assert.ok(!lstat('usr/bin/sh') && !lstat('usr/bin/dpkg'));
      // The libraries, found by ldd in this root, at their real paths with their soname links.
      const multiarch = fs.readdirSync(path.join(out, 'usr/lib')).find((d) => d.endsWith('-linux-gnu'))!;
      for (const lib of ['libc.so.6', 'libxtables.so.12', 'libnftnl.so.11', 'libmnl.so.0']) assert.ok(lstat(`usr/lib/${multiarch}/${lib}`), lib);
      for (const link of ['bin', 'sbin', 'lib']) assert.equal(fs.readlinkSync(path.join(out, link)), `usr/${link}`, `merged /usr: /${link}`);
      assert.equal(fs.readlinkSync(path.join(out, 'usr/local/bin/alias')), 'tool');
      assert.equal(fs.statSync(path.join(out, 'tmp')).mode & 0o7777, 0o1777);
      assert.match(fs.readFileSync(path.join(out, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
      // It runs with only what is there.
      const version = spawnSync('chroot', [out, '/usr/sbin/iptables-nft-save', '--version'], { encoding: 'utf8' });
      assert.equal(version.status, 0, version.stderr);
      // One owner and one mtime for everything.
      const listing = spawnSync('find', [out, '-printf', '%U:%G %T@\n'], { encoding: 'utf8' }).stdout.trim().split('\n');
      assert.deepEqual([...new Set(listing)], ['0:0 1700000000.0000000000']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a package that is not installed, a path that matches nothing, a bad --link: a clear error and no root left', () => {
    for (const [packages, args, message] of [
      ['bridgeway-no-such-package /x\n', [], /package bridgeway-no-such-package is not installed/],
      ['iptables /usr/sbin/no-such-tool*\n', [], /\/usr\/sbin\/no-such-tool\* \(package iptables\) matches nothing/],
      ['iptables\n', ['--link', 'relative=x'], /--link needs PATH=TARGET with an absolute PATH/],
    ] as const) {
      const { status, stderr, dir, out } = cut(packages, [...args]);
      try {
        assert.equal(status, 1);
        assert.match(stderr, message);
        assert.ok(!fs.existsSync(out), `${out} removed`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
