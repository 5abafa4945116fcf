import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PLUGIN, skipUnlessRoot, withNode, type TestNode } from './harness.ts';

/** Nothing of ours may remain: no address reserved, no host veth, no pod interface. */
async function assertNothingLeft(node: TestNode, pod?: string) {
  assert.deepEqual(node.reservedAddresses(), [], 'no reserved address');
  assert.deepEqual((await node.links()).filter((l) => l.startsWith('bw')), [], 'no host veth');
  if (pod && fs.existsSync(pod)) assert.deepEqual(await node.links(pod), ['lo'], 'nothing in the pod');
}

describe('failures leave nothing behind', { skip: skipUnlessRoot }, () => {
  test('a failure inside the pod after allocation rolls everything back', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      // A gateway that is not on-link makes the pod-side route fail, after the IP and veth exist.
      const conf = node.conf({ ipam: { subnet: '10.99.0.0/24', routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '172.31.255.1' }] } });
      const res = await node.cni({ command: 'ADD', containerId: 'c1', netns: pod, ifname: 'eth0', conf });
      assert.equal(res.exitCode, 1);
      assert.equal(res.json?.code, 103);
      assert.match(res.json?.msg, /route add 192\.168\.0\.0\/16 via 172\.31\.255\.1/);
      await assertNothingLeft(node, pod);
      // The same pod then succeeds with a good config (the round-robin cursor has moved on).
      const ok = await node.add(pod, 'c1');
      assert.deepEqual(node.reservedAddresses(), [ok.ips[0].address.split('/')[0]]);
    }));

  test('ADD when CNI_IFNAME already exists in the pod: code 100, the existing interface untouched', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      await node.exec(['ip', 'link', 'add', 'eth0', 'type', 'bridge'], pod);
      const res = await node.cni({ command: 'ADD', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf() });
      assert.equal(res.json?.code, 100);
      assert.match(res.json?.msg, /interface eth0 already exists/);
      assert.deepEqual(node.reservedAddresses(), []);
      assert.deepEqual((await node.links()).filter((l) => l.startsWith('bw')), []);
      const [eth0] = await node.ipJson(['-d', 'link', 'show', 'dev', 'eth0'], pod);
      assert.equal(eth0.linkinfo.info_kind, 'bridge');
    }));

  test('a second ADD of a live attachment fails with 100 and keeps its address reserved', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      await node.add(pod, 'c1');
      const again = await node.cni({ command: 'ADD', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf() });
      assert.equal(again.json?.code, 100);
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2'], 'the live pod keeps its address');
      assert.ok(await node.ping(pod, '10.99.0.1'), 'and its connectivity');
    }));

  test('a stale host veth from an interrupted ADD is replaced', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const first = await node.add(pod, 'c1');
      // Simulate a crash that lost the pod side but left a link with our host veth's name.
      await node.exec(['ip', 'link', 'del', 'eth0'], pod);
      const hostVeth = first.interfaces[1].name;
      await node.exec(['ip', 'link', 'add', hostVeth, 'type', 'bridge']);
      const res = await node.add(pod, 'c1');
      assert.equal(res.interfaces[1].name, hostVeth);
      assert.equal(res.ips[0].address, first.ips[0].address, 'the attachment keeps its address');
      const [link] = await node.ipJson(['-d', 'link', 'show', 'dev', hostVeth]);
      assert.equal(link.linkinfo.info_kind, 'veth');
      assert.equal(link.master, 'cni0');
      assert.ok(await node.ping(pod, '10.99.0.1'));
    }));

  test('address exhaustion is a clear error (code 102) and changes nothing', () =>
    withNode(async (node) => {
      const conf = node.conf({}, '10.99.0.0/30'); // one usable address besides the gateway
      await node.add(await node.pod(), 'c1', conf);
      const pod = await node.pod();
      const res = await node.cni({ command: 'ADD', containerId: 'c2', netns: pod, ifname: 'eth0', conf });
      assert.equal(res.json?.code, 102);
      assert.match(res.json?.msg, /no free IPv4 address in 10\.99\.0\.1-10\.99\.0\.2: all 1 are reserved/);
      assert.deepEqual(await node.links(pod), ['lo']);
    }));

  const badInputs: { name: string; code: number; msg: RegExp; env?: Record<string, string>; conf?: (node: TestNode) => object | string; netns?: (node: TestNode) => string }[] = [
    { name: 'malformed JSON', code: 6, msg: /cannot decode network config/, conf: () => '{"cniVersion": "1.1.0",' },
    { name: 'unknown cniVersion', code: 1, msg: /incompatible CNI version "9.9.9"/, conf: (n) => ({ ...n.conf(), cniVersion: '9.9.9' }) },
    { name: 'wrong type', code: 7, msg: /"mtu" must be an integer/, conf: (n) => ({ ...n.conf(), mtu: 'big' }) },
    { name: 'unsupported field', code: 2, msg: /unsupported field ipMasq=true/, conf: (n) => ({ ...n.conf(), ipMasq: true }) },
    { name: 'missing ipam', code: 7, msg: /"ipam" is required/, conf: (n) => ({ ...n.conf(), ipam: undefined }) },
    { name: 'bad container id', code: 4, msg: /CNI_CONTAINERID/, env: { containerId: 'bad id' } },
    { name: 'bad ifname', code: 4, msg: /CNI_IFNAME/, env: { ifname: 'much-too-long-name' } },
    { name: 'netns that does not exist', code: 4, msg: /CNI_NETNS: .* does not exist/, netns: (n) => `${n.dir}/nope` },
    { name: 'netns that is a plain file', code: 4, msg: /CNI_NETNS: .* is not a network namespace/, netns: (n) => (fs.writeFileSync(`${n.dir}/file`, ''), `${n.dir}/file`) },
    { name: 'relative netns path', code: 4, msg: /must be an absolute path/, netns: () => 'netns/x' },
  ];
  for (const bad of badInputs) {
    test(`bad input: ${bad.name} -> code ${bad.code}, one JSON document on stdout, nothing created`, () =>
      withNode(async (node) => {
        const pod = await node.pod();
        const res = await node.cni({
          command: 'ADD',
          containerId: bad.env?.containerId ?? 'c1',
          ifname: bad.env?.ifname ?? 'eth0',
          netns: bad.netns ? bad.netns(node) : pod,
          conf: bad.conf ? bad.conf(node) : node.conf(),
        });
        assert.equal(res.exitCode, 1);
        assert.equal(res.stdout.trim().split('\n').length, 1);
        assert.equal(res.json?.code, bad.code, res.stdout);
        assert.match(res.json?.msg, bad.msg);
        assert.ok(!/\n\s+at /.test(res.stdout), 'no stack trace');
        await assertNothingLeft(node, pod);
        assert.ok(!(await node.links()).includes('cni0'), 'not even the bridge');
      }));
  }

  test('NODE_OPTIONS from the runtime\'s environment cannot run code in the plugin', () =>
    withNode(async (node) => {
      const script = path.join(node.dir, 'inject.js');
      fs.writeFileSync(script, 'process.stdout.write("INJECTED\\n")');
      const { spawnSync } = await import('node:child_process');
      const out = spawnSync(PLUGIN, [], { input: '{}', encoding: 'utf8', env: { CNI_COMMAND: 'VERSION', NODE_OPTIONS: `--require ${script}` } });
      assert.equal(out.status, 0);
      assert.deepEqual(Object.keys(JSON.parse(out.stdout)), ['cniVersion', 'supportedVersions'], 'stdout is exactly the result');
    }));

  test('an unwritable data dir is an I/O error (code 5) that leaves no veth', () =>
    withNode(async (node) => {
      fs.mkdirSync(node.dataDir, { recursive: true });
      fs.writeFileSync(path.join(node.dataDir, 'testnet'), 'not a directory');
      const pod = await node.pod();
      const res = await node.cni({ command: 'ADD', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf() });
      assert.equal(res.json?.code, 5, res.stdout);
      assert.match(res.json?.msg, /IPAM store/);
      assert.deepEqual(await node.links(pod), ['lo']);
    }));
});
