import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { skipUnlessRoot, withNode } from './harness.ts';

describe('ADD and DEL against the built executable', { skip: skipUnlessRoot }, () => {
  test('ADD wires the pod: result, address, MAC, routes, bridge port; the pod reaches its gateway', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1');
      assert.equal(result.cniVersion, '1.1.0');
      const [bridge, hostVeth, podIf] = result.interfaces;
      assert.equal(bridge.name, 'cni0');
      assert.match(hostVeth.name, /^bw[0-9a-f]{12}$/);
      assert.deepEqual({ name: podIf.name, sandbox: podIf.sandbox, mtu: podIf.mtu }, { name: 'eth0', sandbox: pod, mtu: 1400 });
      assert.deepEqual(result.ips, [{ address: '10.99.0.2/24', gateway: '10.99.0.1', interface: 2 }]);
      assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }]);

      const [eth0] = await node.ipJson(['addr', 'show', 'dev', 'eth0'], pod);
      assert.equal(eth0.address, podIf.mac);
      assert.equal(eth0.mtu, 1400);
      assert.ok(eth0.addr_info.some((a: any) => a.local === '10.99.0.2' && a.prefixlen === 24));
      const routes = await node.ipJson(['route', 'show'], pod);
      assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '10.99.0.1'));
      const [lo] = await node.ipJson(['link', 'show', 'dev', 'lo'], pod);
      assert.ok(lo.flags.includes('UP'));

      const [hostLink] = await node.ipJson(['link', 'show', 'dev', hostVeth.name]);
      assert.equal(hostLink.master, 'cni0');
      assert.equal(hostLink.address, hostVeth.mac);
      const [br] = await node.ipJson(['addr', 'show', 'dev', 'cni0']);
      assert.equal(br.address, bridge.mac);
      assert.ok(br.addr_info.some((a: any) => a.local === '10.99.0.1' && a.prefixlen === 24));
      assert.ok(await node.ping(pod, '10.99.0.1'));
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2']);
      // Logs went to the configured file as JSON, never to stdout.
      const line = JSON.parse(fs.readFileSync(node.logFile, 'utf8').trim().split('\n').at(-1)!);
      assert.equal(line.msg, 'pod attached');
    }));

  test('results come in the version the config asks for', () =>
    withNode(async (node) => {
      for (const [i, version] of ['0.3.0', '0.3.1', '0.4.0', '1.0.0'].entries()) {
        const result = await node.add(await node.pod(), `v${i}`, node.conf({ cniVersion: version }));
        assert.equal(result.cniVersion, version);
        assert.equal('version' in result.ips[0], version.startsWith('0.'), version);
      }
    }));

  test('DEL removes the veth and releases the address; a second DEL succeeds too', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'c1');
      const hostVeth = result.interfaces[1].name;
      for (let i = 0; i < 2; i++) {
        const del = await node.cni({ command: 'DEL', containerId: 'c1', netns: pod, ifname: 'eth0', conf: { ...node.conf(), prevResult: result } });
        assert.equal(del.exitCode, 0, del.stdout);
        assert.equal(del.stdout, '', 'DEL prints nothing on success');
      }
      assert.ok(!(await node.links()).includes(hostVeth));
      assert.ok(!(await node.links(pod)).includes('eth0'));
      assert.deepEqual(node.reservedAddresses(), []);
    }));

  test('DEL after the netns is gone, with an empty CNI_NETNS, and for a container never added', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const result = await node.add(pod, 'gone');
      await node.deleteNetns(pod);
      const del = await node.cni({ command: 'DEL', containerId: 'gone', netns: pod, ifname: 'eth0', conf: node.conf() });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(node.reservedAddresses(), [], 'address released although the netns vanished');
      assert.ok(!(await node.links()).includes(result.interfaces[1].name));

      const noNetns = await node.cni({ command: 'DEL', containerId: 'gone', netns: '', ifname: 'eth0', conf: node.conf() });
      assert.equal(noNetns.exitCode, 0, noNetns.stdout);
      const never = await node.cni({ command: 'DEL', containerId: 'never-added', ifname: 'eth0', conf: node.conf() });
      assert.equal(never.exitCode, 0, never.stdout);
    }));

  test('a leftover portless bridge (whose MAC the kernel may have zeroed) is adopted', () =>
    withNode(async (node) => {
      await node.exec(['ip', 'link', 'add', 'cni0', 'type', 'bridge']);
      await node.exec(['ip', 'link', 'add', 'tmpa', 'type', 'veth', 'peer', 'name', 'tmpb']);
      await node.exec(['ip', 'link', 'set', 'tmpa', 'master', 'cni0']);
      await node.exec(['ip', 'link', 'del', 'tmpa']);
      const [before] = await node.ipJson(['link', 'show', 'dev', 'cni0']);
      assert.equal(before.address, '00:00:00:00:00:00', 'precondition: the kernel zeroed the portless bridge MAC');
      const pod = await node.pod();
      const result = await node.add(pod, 'c1');
      const [br] = await node.ipJson(['link', 'show', 'dev', 'cni0']);
      assert.equal(br.address, result.interfaces[0].mac);
      assert.notEqual(br.address, '00:00:00:00:00:00');
      assert.ok(await node.ping(pod, '10.99.0.1'));
    }));

  test('a later ADD leaves the bridge alone: its ARP entries survive (no MAC or MTU rewrite)', () =>
    withNode(async (node) => {
      const a = await node.add(await node.pod(), 'a');
      const podA = a.ips[0].address.split('/')[0];
      await node.exec(['ip', 'neigh', 'replace', podA, 'lladdr', a.interfaces[2].mac, 'dev', 'cni0', 'nud', 'reachable']);
      await node.add(await node.pod(), 'b');
      const neigh = await node.ipJson(['neigh', 'show', 'dev', 'cni0']);
      assert.ok(neigh.some((n) => n.dst === podA), 'the neighbour entry for pod a is still there');
    }));

  test('hairpin is on at the bridge port by default; "hairpinMode": false leaves it off, also where it replaces a port that had it on', () =>
    withNode(async (node) => {
      const hairpin = async (port: string) => (await node.ipJson(['-d', 'link', 'show', 'dev', port]))[0].linkinfo.info_slave_data.hairpin;
      const byDefault = await node.add(await node.pod(), 'c1');
      assert.equal(await hairpin(byDefault.interfaces[1].name), true);
      const off = await node.add(await node.pod(), 'c2', node.conf({ hairpinMode: false }));
      assert.equal(await hairpin(off.interfaces[1].name), false);
      // An ADD retried into a new namespace finds its own earlier host veth (hairpin on) and remakes it.
      const first = await node.add(await node.pod(), 'c3');
      const port = first.interfaces[1].name;
      assert.equal(await hairpin(port), true);
      const retried = await node.add(await node.pod(), 'c3', node.conf({ hairpinMode: false }));
      assert.equal(retried.interfaces[1].name, port);
      assert.equal(await hairpin(port), false);
    }));

  test('pods on one node reach each other; a custom ifname and extra routes work', () =>
    withNode(async (node) => {
      const conf = node.conf({ ipam: { subnet: '10.99.0.0/24', routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.77.0/24', gw: '10.99.0.254' }] } });
      const a = await node.pod();
      const b = await node.pod();
      await node.add(a, 'a', conf);
      const rb = await node.add(b, 'b', conf, 'net1');
      assert.equal(rb.interfaces[2].name, 'net1');
      const routes = await node.ipJson(['route', 'show'], b);
      assert.ok(routes.some((r) => r.dst === '192.168.77.0/24' && r.gateway === '10.99.0.254' && r.dev === 'net1'));
      assert.ok(await node.ping(a, rb.ips[0].address.split('/')[0]));
    }));
});
