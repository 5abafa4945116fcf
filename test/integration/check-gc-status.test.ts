import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { renderElements } from '../../lib/antispoof/nft-text.ts';
import { elementPort } from '../../lib/antispoof/nft-json.ts';
import { antispoofRuleset } from '../../lib/antispoof/ruleset.ts';
import { parseIp } from '../../lib/cidr.ts';
import { guardedPorts, listedElements } from '../support/antispoof-elements.ts';
import { execIn } from '../support/exec-in.ts';
import { skipUnlessRoot, withNode, type TestNode } from './harness.ts';

async function check(node: TestNode, pod: string, result: object, containerId = 'c1', conf: object = node.conf()) {
  return node.cni({ command: 'CHECK', containerId, netns: pod, ifname: 'eth0', conf: { ...conf, prevResult: result } });
}

describe('CHECK', { skip: skipUnlessRoot }, () => {
  test('passes on a healthy pod and tolerates routes added later', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1');
      await node.exec(['ip', 'route', 'add', '172.16.0.0/12', 'via', '10.99.0.1'], pod);
      const res = await check(node, pod, result);
      assert.equal(res.exitCode, 0, res.stdout);
      assert.equal(res.stdout, '');
    }));

  const breakages: [string, (node: TestNode, pod: string, result: any) => Promise<unknown>, RegExp][] = [
    ['the pod address removed', (n, pod) => n.exec(['ip', 'addr', 'flush', 'dev', 'eth0'], pod), /eth0 lacks address 10\.99\.0\.2\/24/],
    ['the default route removed', (n, pod) => n.exec(['ip', 'route', 'del', 'default'], pod), /route to 0\.0\.0\.0\/0 via 10\.99\.0\.1 is missing/],
    ['the pod interface down', (n, pod) => n.exec(['ip', 'link', 'set', 'eth0', 'down'], pod), /eth0 is down/],
    ['the MAC changed', (n, pod) => n.exec(['ip', 'link', 'set', 'eth0', 'address', '02:00:00:00:00:99'], pod), /MAC 02:00:00:00:00:99, expected 0a:58/],
    ['the host veth detached', (n, _pod, r) => n.exec(['ip', 'link', 'set', r.interfaces[1].name, 'nomaster']), /attached to no bridge, expected cni0/],
    ['the reservation lost', async (n) => fs.rmSync(path.join(n.dataDir, 'testnet', 'ips', '10.99.0.2')), /IPAM has no IPv4 reservation for c1\/eth0/],
    ['router advertisements accepted again', (n, pod) => n.exec(['sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/eth0/accept_ra'], pod), /the pod's net\.ipv6\.conf\.eth0\.accept_ra is 1, expected 0/],
    ['the pod\'s anti-spoofing elements removed', async (n, _pod, r) => {
      const port = r.interfaces[1].name;
      const mine = (await listedElements(n.path)).filter((e) => elementPort(e) === port && (e.set === 'guarded_ports' || e.set === 'port_ipv4'));
      await execIn(n.path, ['nft', '-f', '-'], renderElements(antispoofRuleset(), 'delete', mine));
    }, /host veth bw[0-9a-f]{12} lacks 2 anti-spoofing elements: guarded_ports \{ "bw[0-9a-f]{12}" \}; port_ipv4 \{ "bw[0-9a-f]{12}" \. 10\.99\.0\.2 \}$/],
    ['IPv4 redirects accepted again', (n, pod) => n.exec(['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/conf/all/accept_redirects'], pod), /the pod's net\.ipv4\.conf\.all\.accept_redirects is 1, expected 0/],
    ['the link-local address no longer derived from the MAC', (n, pod) => n.exec(['sh', '-c', 'echo 3 > /proc/sys/net/ipv6/conf/eth0/addr_gen_mode'], pod), /the pod's net\.ipv6\.conf\.eth0\.addr_gen_mode is 3, expected 0/],
    ['an address added for the pod\'s port that is not its own', async (n, _pod, r) => {
      const port = r.interfaces[1].name;
      await execIn(n.path, ['nft', '-f', '-'], renderElements(antispoofRuleset(), 'add', [{ set: 'port_ipv4', key: [{ ifname: port }, { ip: parseIp('10.99.0.77')! }] }]));
    }, /host veth bw[0-9a-f]{12} has 1 anti-spoofing element that is not its own \(its pod may send as it\): port_ipv4 \{ "bw[0-9a-f]{12}" \. 10\.99\.0\.77 \}$/],
  ];
  for (const [name, breakIt, message] of breakages) {
    test(`fails precisely with ${name}`, () =>
      withNode(async (node) => {
        const pod = await node.pod();
        const result = await node.add(pod, 'c1');
        await breakIt(node, pod, result);
        const res = await check(node, pod, result);
        assert.equal(res.exitCode, 1);
        assert.equal(res.json?.code, 101, res.stdout);
        assert.match(res.json?.msg, message);
      }));
  }

  test('the pod interface deleted, no prevResult, and a pre-0.4.0 config are errors', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1');
      const noPrev = await node.cni({ command: 'CHECK', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf() });
      assert.equal(noPrev.json?.code, 7);
      assert.match(noPrev.json?.msg, /needs prevResult/);
      const old = await check(node, pod, result, 'c1', node.conf({ cniVersion: '0.3.1' }));
      assert.equal(old.json?.code, 1);
      await node.exec(['ip', 'link', 'del', 'eth0'], pod);
      const gone = await check(node, pod, result);
      assert.equal(gone.json?.code, 101);
      assert.match(gone.json?.msg, /interface eth0 is missing/);
    }));
});

describe('GC', { skip: skipUnlessRoot }, () => {
  test('releases addresses and deletes veths of attachments not in valid-attachments', () =>
    withNode(async (node) => {
      const pods = [await node.pod(), await node.pod(), await node.pod()];
      const results = [];
      for (const [i, pod] of pods.entries()) results.push(await node.add(pod, `c${i}`));
      // A foreign port on our bridge must survive GC.
      await node.exec(['ip', 'link', 'add', 'foreign0', 'type', 'veth', 'peer', 'name', 'foreign1']);
      await node.exec(['ip', 'link', 'set', 'foreign0', 'master', 'cni0']);
      const gc = await node.cni({ command: 'GC', conf: { ...node.conf(), 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.equal(gc.stdout, '');
      assert.deepEqual(node.reservedAddresses(), [results[1]!.ips[0].address.split('/')[0]]);
      const ports = (await node.ipJson(['link', 'show', 'master', 'cni0'])).map((l) => l.ifname).sort();
      assert.deepEqual(ports, [results[1]!.interfaces[1].name, 'foreign0'].sort());
      assert.ok(await node.ping(pods[1]!, '10.99.0.1'), 'the valid pod is untouched');
      // Idempotent; the older key is accepted as well.
      const again = await node.cni({ command: 'GC', conf: { ...node.conf(), 'cni.dev/attachments': [{ containerID: 'c1', ifname: 'eth0' }] } });
      assert.equal(again.exitCode, 0, again.stdout);
      assert.equal(node.reservedAddresses().length, 1);
    }));

  test('refuses to run without the list of valid attachments', () =>
    withNode(async (node) => {
      await node.add(await node.pod(), 'c1');
      const gc = await node.cni({ command: 'GC', conf: node.conf() });
      assert.equal(gc.json?.code, 7);
      assert.equal(node.reservedAddresses().length, 1);
    }));

  test('cleans up after a crashed ADD whose pod vanished, on a node with no bridge yet', () =>
    withNode(async (node) => {
      const gcEmpty = await node.cni({ command: 'GC', conf: { ...node.conf(), 'cni.dev/valid-attachments': [] } });
      assert.equal(gcEmpty.exitCode, 0, gcEmpty.stdout);
      const pod = await node.pod();
      await node.add(pod, 'lost');
      await node.deleteNetns(pod);
      const gc = await node.cni({ command: 'GC', conf: { ...node.conf(), 'cni.dev/valid-attachments': [] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(node.reservedAddresses(), []);
      assert.deepEqual(fs.readdirSync(path.join(node.dataDir, 'testnet', 'attachments')), []);
    }));

  test('a pod whose netns is deleted without DEL: after GC no element refers to its port; the live pod keeps its own', () =>
    withNode(async (node) => {
      const live = await node.pod();
      const liveResult = await node.add(live, 'c1');
      const lost = await node.pod();
      const lostResult = await node.add(lost, 'lost');
      const [livePort, lostPort] = [liveResult.interfaces[1].name, lostResult.interfaces[1].name];
      assert.deepEqual(await guardedPorts(node.path), [livePort, lostPort].sort());
      await node.deleteNetns(lost);
      const gc = await node.cni({ command: 'GC', conf: { ...node.conf(), 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(await guardedPorts(node.path), [livePort]);
      assert.ok(await node.ping(live, '10.99.0.1'), 'the live pod is still guarded and still talks');
      const check = await node.cni({ command: 'CHECK', containerId: 'c1', netns: live, ifname: 'eth0', conf: { ...node.conf(), prevResult: liveResult } });
      assert.equal(check.exitCode, 0, check.stdout);
    }));
});

describe('STATUS', { skip: skipUnlessRoot }, () => {
  test('ready: exit 0 and no output', () =>
    withNode(async (node) => {
      const res = await node.cni({ command: 'STATUS', conf: node.conf() });
      assert.equal(res.exitCode, 0, res.stdout);
      assert.equal(res.stdout, '');
    }));

  test('no free address: code 50; ready again after a DEL', () =>
    withNode(async (node) => {
      const conf = node.conf({}, '10.99.0.0/30');
      const pod = await node.pod();
      await node.add(pod, 'c1', conf);
      const full = await node.cni({ command: 'STATUS', conf });
      assert.equal(full.json?.code, 50);
      assert.match(full.json?.msg, /no free IPv4 pod addresses/);
      await node.cni({ command: 'DEL', containerId: 'c1', netns: pod, ifname: 'eth0', conf });
      assert.equal((await node.cni({ command: 'STATUS', conf })).exitCode, 0);
    }));

  test('unusable store: code 50 naming the directory', () =>
    withNode(async (node) => {
      fs.mkdirSync(node.dataDir, { recursive: true });
      fs.writeFileSync(path.join(node.dataDir, 'testnet'), '');
      const res = await node.cni({ command: 'STATUS', conf: node.conf() });
      assert.equal(res.json?.code, 50);
      assert.match(res.json?.msg, /IPAM store/);
    }));
});
