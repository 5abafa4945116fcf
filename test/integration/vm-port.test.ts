// Issue 20: a VM beside the pods on the pods' own bridge (cni0). libvirt's
// `<interface type='bridge'><source bridge='cni0'/>` gives the VM a vnetN tap port on it; a veth
// whose other end sits in a "vm" namespace stands in for the tap (made by the test, as libvirt
// would, never by the plugin). Pods and the VM reach each other; anti-spoofing judges only the
// pods' ports; GC, DEL and uninstall leave the VM's port alone. The uplink bridge's case is in
// uplink.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT } from '../support/cluster.ts';
import { skipUnlessAgent, withNode } from './harness.ts';

describe('a VM\'s tap on cni0 beside the pods', { skip: skipUnlessAgent }, () => {
  test('reachable, unguarded, and left alone by GC, DEL and uninstall', () =>
    withNode(async (node) => {
      const pod = await node.pod();
      const vm = await node.pod();
      const result = await node.add(pod, 'c1');
      const podIp = result.ips[0].address.split('/')[0];
      await node.exec(['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm]);
      await node.exec(['ip', 'link', 'set', 'vnet0', 'master', 'cni0', 'up']);
      await node.exec(['ip', 'addr', 'add', '10.99.0.250/24', 'dev', 'eth0'], vm);
      await node.exec(['ip', 'link', 'set', 'eth0', 'up'], vm);
      await node.exec(['ip', 'route', 'add', 'default', 'via', '10.99.0.1'], vm);
      assert.ok(await node.ping(pod, '10.99.0.250'), 'pod -> VM');
      assert.ok(await node.ping(vm, podIp), 'VM -> pod');
      assert.ok(await node.ping(vm, '10.99.0.1'), 'VM -> its gateway, the node');

      // The VM sends from an address it chose itself; a pod that does the same is dropped at its port.
      await node.exec(['ip', 'addr', 'add', '10.99.0.251/24', 'dev', 'eth0'], vm);
      await node.exec(['ping', '-c', '1', '-W', '2', '-I', '10.99.0.251', podIp], vm);
      await node.exec(['ip', 'addr', 'add', '10.99.0.252/24', 'dev', 'eth0'], pod);
      await assert.rejects(node.exec(['ping', '-c', '1', '-W', '1', '-I', '10.99.0.252', '10.99.0.250'], pod));
      assert.doesNotMatch((await node.exec(['nft', 'list', 'table', 'bridge', 'bridgeway'])).stdout, /vnet0/);

      const ports = async () => (await node.ipJson(['link', 'show', 'master', 'cni0'])).map((l) => l.ifname).sort();
      const gc = await node.cni({ command: 'GC', conf: { ...node.conf(), 'cni.dev/valid-attachments': [] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(await ports(), ['vnet0'], 'GC deleted the pod\'s veth, not the VM\'s port');
      const del = await node.cni({ command: 'DEL', containerId: 'c1', netns: pod, ifname: 'eth0', conf: node.conf() });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(await ports(), ['vnet0']);
      assert.ok(await node.ping(vm, '10.99.0.1'), 'the VM still reaches the node');

      // Uninstall keeps the bridge for the VM (deleting it would cut the VM off) and says so.
      const res = await node.exec([AGENT, 'uninstall', '--bridge', 'cni0', '--cni-conf-dir', node.lab.subdir('net.d'), '--cni-bin-dir', node.lab.subdir('bin'), '--data-dir', node.dataDir, '--cni-log-file', node.logFile]);
      assert.match(res.stderr + res.stdout, /left the bridge cni0 in place for the ports that are not ours \(vnet0\)/);
      assert.deepEqual(await ports(), ['vnet0']);
    }));
});
