// The plugin's two kernel backends against each other: the Bun executable speaks rtnetlink
// itself; the same bundle run by Node goes through iproute2 processes. The same ADD must leave
// the same kernel state either way, and the Bun executable must start no process at all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import { PLUGIN, skipUnlessRoot, TestNode } from './harness.ts';

const BUNDLE = path.resolve(PLUGIN + '.cjs');
const skip = skipUnlessRoot || (!fs.existsSync(BUNDLE) && `${BUNDLE} is missing: run npm run build`);

/** Volatile or per-namespace fields: indexes, timers, lifetimes, counters. */
const VOLATILE = /ifindex|link_index|netnsid|timer|life_time|stats|^inode$|^link$/;

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !VOLATILE.test(key)).map(([key, v]) => [key, normalize(v)]));
}

/**
 * Addresses without the link-locals the kernel makes itself (their DAD state depends on
 * timing), routes of every table sorted: what ADD made, comparable across namespaces.
 */
async function state(node: TestNode, netns: string) {
  const links = (await node.ipJson(['-d', 'addr', 'show'], netns)).map((link) => ({
    ...link,
    addr_info: (link.addr_info ?? []).filter((a: any) => !(a.scope === 'link' && a.local !== 'fe80::1')),
  }));
  const routes = [...(await node.ipJson(['-4', 'route', 'show', 'table', 'all'], netns)), ...(await node.ipJson(['-6', 'route', 'show', 'table', 'all'], netns))]
    .filter((r) => !String(r.dst).startsWith('fe80') || r.dst === 'fe80::1')
    .map((r) => JSON.stringify(normalize(r)))
    .sort();
  return { links: normalize(links), routes };
}

/** The node's anti-spoofing table as nft lists it, each set's elements sorted (a hash set's order is the kernel's). */
async function guardState(node: TestNode): Promise<string> {
  const { stdout } = await node.exec(['nft', 'list', 'table', 'bridge', 'bridgeway']);
  return stdout.replace(/elements = \{([^}]*)\}/g, (_all, items: string) => `elements = { ${items.split(',').map((i) => i.replace(/\s+/g, ' ').trim()).sort().join(', ')} }`);
}

describe('the rtnetlink backend leaves what the iproute2 backend leaves', { skip }, () => {
  let bun: TestNode;
  let node: TestNode;
  let viaNode: string;
  before(async () => {
    bun = await TestNode.create();
    node = await TestNode.create();
    viaNode = path.join(node.dir, 'bridgeway-on-node');
    // The one executable's code picks its role by argv[0]'s name (bin/role.ts): Node's argv0 is
    // what exec -a gives it.
    fs.writeFileSync(viaNode, `#!/bin/bash\nexec -a bridgeway ${process.execPath} ${BUNDLE}\n`, { mode: 0o755 });
  });
  after(async () => {
    await bun?.cleanup();
    await node?.cleanup();
  });

  const dualStack = (n: TestNode) => n.conf({ ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] } });

  test('ADD: the same links, addresses and routes on the node and in the pod (dual-stack, hairpin by default)', async () => {
    const [bunPod, nodePod] = [await bun.pod(), await node.pod()];
    const fromBun = await bun.add(bunPod, 'same-id', dualStack(bun));
    const fromNode = await node.cni({ command: 'ADD', containerId: 'same-id', netns: nodePod, ifname: 'eth0', conf: dualStack(node), plugin: viaNode });
    assert.equal(fromNode.exitCode, 0, fromNode.stdout + fromNode.stderr);
    assert.deepEqual({ ...fromBun, interfaces: fromBun.interfaces.map((i: any) => ({ ...i, sandbox: undefined })) },
      { ...fromNode.json, interfaces: fromNode.json!.interfaces.map((i: any) => ({ ...i, sandbox: undefined })) });
    assert.deepEqual(await state(bun, bun.path), await state(node, node.path), 'node namespace');
    assert.deepEqual(await state(bun, bunPod), await state(node, nodePod), 'pod namespace');
    // The anti-spoofing table: the Bun plugin's nf_tables batches and the Node bundle's nft -f.
    assert.deepEqual(await guardState(bun), await guardState(node), 'anti-spoofing table');
    assert.match(await guardState(bun), /"bw[0-9a-f]{12}" \. 0a:58:0a:63:00:02/);
    const [port] = await bun.ipJson(['-d', 'link', 'show', 'master', 'cni0']);
    assert.equal(port.linkinfo.info_slave_data.hairpin, true);
    assert.equal(port.ifalias, 'bridgeway:testnet:same-id:eth0');
    assert.ok(await bun.ping(bunPod, '10.99.0.1'));
  });

  test('CHECK and DEL agree too; DEL leaves no veth behind', async () => {
    for (const [n, plugin] of [[bun, undefined], [node, viaNode]] as const) {
      const conf = dualStack(n);
      const prev = await n.cni({ command: 'ADD', containerId: 'second', netns: await n.pod(), ifname: 'eth0', conf, plugin });
      assert.equal(prev.exitCode, 0, prev.stdout);
      const sandbox = prev.json!.interfaces[2].sandbox;
      const check = await n.cni({ command: 'CHECK', containerId: 'second', netns: sandbox, ifname: 'eth0', conf: { ...conf, prevResult: prev.json }, plugin });
      assert.equal(check.exitCode, 0, check.stdout);
      // The port's hairpin mode, read through either backend: off behind our back is named.
      const port = prev.json!.interfaces[1].name;
      await n.exec(['ip', 'link', 'set', port, 'type', 'bridge_slave', 'hairpin', 'off']);
      const noHairpin = await n.cni({ command: 'CHECK', containerId: 'second', netns: sandbox, ifname: 'eth0', conf: { ...conf, prevResult: prev.json }, plugin });
      assert.equal(noHairpin.json?.code, 101);
      assert.match(noHairpin.json?.msg, new RegExp(`host veth ${port} has hairpin off, the config says "hairpinMode": true \\(the default\\)`));
      const offConf = { ...conf, hairpinMode: false, prevResult: prev.json };
      const wantedOff = await n.cni({ command: 'CHECK', containerId: 'second', netns: sandbox, ifname: 'eth0', conf: offConf, plugin });
      assert.equal(wantedOff.exitCode, 0, wantedOff.stdout);
      await n.exec(['ip', 'link', 'set', port, 'type', 'bridge_slave', 'hairpin', 'on']);
      // Break it: CHECK must see the missing route through either backend.
      await n.exec(['ip', '-6', 'route', 'del', 'default'], sandbox);
      const broken = await n.cni({ command: 'CHECK', containerId: 'second', netns: sandbox, ifname: 'eth0', conf: { ...conf, prevResult: prev.json }, plugin });
      assert.equal(broken.json?.code, 101);
      assert.match(broken.json?.msg, /route to ::\/0 via fd00:99::1 is missing/);
      for (const containerId of ['second', 'same-id']) {
        const del = await n.cni({ command: 'DEL', containerId, netns: sandbox, ifname: 'eth0', conf, plugin });
        assert.equal(del.exitCode, 0, del.stdout);
      }
      assert.deepEqual(await n.ipJson(['link', 'show', 'master', 'cni0']), []);
      assert.deepEqual(n.reservedAddresses(), []);
      assert.doesNotMatch(await guardState(n), /elements/, 'DEL left no anti-spoofing element');
    }
  });
});

describe('the Bun executable starts no process', { skip: skip || (!fs.existsSync('/usr/bin/strace') && 'strace is missing') }, () => {
  test('ADD, CHECK, DEL and GC: only nsenter and the plugin are ever executed', async () => {
    const n = await TestNode.create();
    try {
      const pod = await n.pod();
      const conf = n.conf({ ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] } });
      const traced = (command: string, stdin: object) => {
        const trace = path.join(n.dir, `trace-${command}`);
        const result = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', trace, 'nsenter', `--net=${n.path}`, '--', PLUGIN], {
          env: { PATH: SYSTEM_PATH, CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: pod, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
          input: JSON.stringify(stdin),
        });
        const programs = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('execve(') && !l.includes('ENOENT')).map((l) => /execve\("([^"]+)"/.exec(l)?.[1]);
        return { status: result.status, stdout: result.stdout.toString(), programs };
      };
      const add = traced('ADD', conf);
      assert.equal(add.status, 0, add.stdout);
      assert.deepEqual(add.programs, ['/usr/bin/nsenter', PLUGIN]);
      const check = traced('CHECK', { ...conf, prevResult: JSON.parse(add.stdout) });
      assert.equal(check.status, 0, check.stdout);
      assert.deepEqual(check.programs, ['/usr/bin/nsenter', PLUGIN]);
      const gc = traced('GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] });
      assert.equal(gc.status, 0, gc.stdout);
      assert.deepEqual(gc.programs, ['/usr/bin/nsenter', PLUGIN]);
      const del = traced('DEL', conf);
      assert.equal(del.status, 0, del.stdout);
      assert.deepEqual(del.programs, ['/usr/bin/nsenter', PLUGIN]);
      assert.deepEqual(await n.ipJson(['link', 'show', 'master', 'cni0']), []);
    } finally {
      await n.cleanup();
    }
  });
});
