// Disk errors are I/O failures, code 5, naming the path (issue 8 item 5): a full disk or a
// read-only dataDir must not come out as 999, and must leave nothing half-made behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { run, skipUnlessRoot, withNode, type TestNode } from './harness.ts';

/** Mounts a tiny tmpfs on a fresh directory of the node, runs fn, always unmounts. */
async function withTinyTmpfs(node: TestNode, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = path.join(node.dir, 'tiny');
  fs.mkdirSync(dir);
  await run(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', dir]);
  try {
    await fn(dir);
  } finally {
    await run(['umount', '-l', dir]);
  }
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function addExpectingIoError(node: TestNode, dataDir: string) {
  const pod = await node.pod();
  const res = await node.cni({ command: 'ADD', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf({ dataDir }) });
  assert.equal(res.exitCode, 1);
  assert.equal(res.stdout.trim().split('\n').length, 1, 'one JSON document on stdout');
  assert.equal(res.json?.code, 5, res.stdout);
  assert.ok(res.json?.msg.includes(path.join(dataDir, 'testnet')), `the message names the path: ${res.json?.msg}`);
  assert.deepEqual((await node.links()).filter((l) => l.startsWith('bw')), [], 'no veth');
  assert.deepEqual(await node.links(pod), ['lo'], 'nothing in the pod');
  return res;
}

describe('disk faults in the IPAM store', { skip: skipUnlessRoot }, () => {
  test('a full disk: code 5 naming the path; no reservation, no index entry, no temp file', () =>
    withNode((node) =>
      withTinyTmpfs(node, async (dir) => {
        const dataDir = path.join(dir, 'data');
        fs.mkdirSync(path.join(dataDir, 'testnet', 'ips'), { recursive: true });
        fs.mkdirSync(path.join(dataDir, 'testnet', 'attachments'), { recursive: true });
        const filler = fs.openSync(path.join(dir, 'filler'), 'w');
        try {
          for (;;) fs.writeSync(filler, Buffer.alloc(4096));
        } catch (error) {
          assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
        } finally {
          fs.closeSync(filler);
        }
        const res = await addExpectingIoError(node, dataDir);
        assert.match(res.json?.msg, /ENOSPC/);
        assert.deepEqual(filesUnder(path.join(dataDir, 'testnet')), [], 'nothing half-written under the store');
      })));

  test('a read-only dataDir: code 5 naming the path, nothing created', () =>
    withNode((node) =>
      withTinyTmpfs(node, async (dir) => {
        const dataDir = path.join(dir, 'data');
        fs.mkdirSync(path.join(dataDir, 'testnet', 'ips'), { recursive: true });
        fs.mkdirSync(path.join(dataDir, 'testnet', 'attachments'), { recursive: true });
        await run(['mount', '-o', 'remount,ro', dir]);
        const res = await addExpectingIoError(node, dataDir);
        assert.match(res.json?.msg, /EROFS/);
        assert.deepEqual(filesUnder(path.join(dataDir, 'testnet')), []);
      })));

  test('a dataDir that cannot even be created: code 5 naming it', () =>
    withNode((node) =>
      withTinyTmpfs(node, async (dir) => {
        await run(['mount', '-o', 'remount,ro', dir]);
        const res = await addExpectingIoError(node, path.join(dir, 'data'));
        // (Node's recursive mkdir reports ENOENT rather than EROFS here.)
        assert.match(res.json?.msg, /IPAM store: cannot create /);
      })));
});
