// Issue 21 part 2: `bridgeway-agent mirror <ns>/<pod>` on a test's own OVS (userspace datapath).
// The real dist/bridgeway-agent, in the node's namespace (where ovs-vswitchd makes its ports):
// the port it prints sees the pod's ping (read with a packet socket: no tcpdump on this machine),
// Ctrl-C removes the Mirror and the port; an RSPAN mirror left behind goes with --stop.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { poll } from '../support/poll.ts';
import { ovsMissing, TestOvs } from '../support/ovs.ts';
import { AGENT } from '../support/cluster.ts';
import { skipUnlessAgent, TestNode } from './harness.ts';
import { withOvs } from './ovs-node.ts';

const skip = skipUnlessAgent || ovsMissing;
const BRIDGE = 'brovs0';

/** Counts ICMP echo requests from SRC and replies to it on the interface IF until SIGTERM. */
const ICMP_COUNTER = `
import socket, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
ifname, src = sys.argv[1], socket.inet_aton(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((ifname, 0))
print('ready', flush=True)
while True:
    data = s.recv(65535)
    if len(data) < 34 or data[23] != 1: continue
    kind = data[34]
    if kind == 8 and data[26:30] == src: print('request', flush=True)
    if kind == 0 and data[30:34] == src: print('reply', flush=True)
`;

function agent(node: TestNode, ovs: TestOvs, args: string[]) {
  const child = spawn('nsenter', [`--net=${node.path}`, '--', AGENT, 'mirror', ...args, '--ovsdb-socket', ovs.socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  node.lab.track(child);
  const output = { out: '', err: '' };
  child.stdout!.on('data', (d) => (output.out += d));
  child.stderr!.on('data', (d) => (output.err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output, exited };
}

describe('bridgeway-agent mirror (Open vSwitch)', { skip }, () => {
  test('the printed port sees the pod\'s ping both ways; Ctrl-C removes the mirror and its port; --to-vlan and --stop', () =>
    withOvs(async (node, ovs) => {
      const conf = node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev' });
      const [pod1, pod2] = await node.podBatch(2);
      const a1 = await node.cni({ command: 'ADD', containerId: 'm1', netns: pod1, ifname: 'eth0', conf, args: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1' });
      assert.equal(a1.exitCode, 0, a1.stdout);
      const a2 = await node.cni({ command: 'ADD', containerId: 'm2', netns: pod2, ifname: 'eth0', conf, args: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-2' });
      assert.equal(a2.exitCode, 0, a2.stdout);
      const ip1 = a1.json!.ips[0].address.split('/')[0];
      const ip2 = a2.json!.ips[0].address.split('/')[0];

      // An unknown pod: a clear error, nothing made.
      const unknown = agent(node, ovs, ['shop/nobody']);
      assert.equal(await unknown.exited, 2);
      assert.match(unknown.output.err, /no Open vSwitch port of pod shop\/nobody/);

      const mirror = agent(node, ovs, ['shop/web-1']);
      await poll(() => mirror.output.out.includes('Ctrl-C'), { what: `the mirror's port (${JSON.stringify(mirror.output)})` });
      const port = mirror.output.out.split('\n')[0]!;
      assert.match(port, /^bwm-[0-9a-f]{10}$/);
      assert.equal(await ovs.vsctl(['get', 'Mirror', 'bridgeway-shop/web-1', 'output_port']), await ovs.vsctl(['get', 'Port', port, '_uuid']));

      const counter = spawn('nsenter', [`--net=${node.path}`, '--', '/usr/bin/python3', '-c', ICMP_COUNTER, port, ip1], { stdio: ['ignore', 'pipe', 'inherit'] });
      node.lab.track(counter);
      let seen = '';
      counter.stdout!.on('data', (d) => (seen += d));
      await poll(() => seen.includes('ready'), { what: 'the packet counter' });
      // The port is printed once ovs-vswitchd applied the mirror: the first ping is seen.
      assert.ok(await node.ping(pod1!, ip2), 'web-1 -> web-2');
      await poll(() => seen.includes('request') && seen.includes('reply'), { what: `web-1's echo request and reply on ${port}`, timeoutMs: 5000 }).catch((error: Error) => {
        throw new Error(`${error.message}; the counter saw: ${JSON.stringify(seen)}`);
      });
      counter.kill('SIGTERM');

      mirror.child.kill('SIGINT');
      assert.equal(await mirror.exited, 0, mirror.output.err);
      assert.equal(await ovs.vsctl(['list', 'Mirror']), '');
      assert.ok(!(await ovs.vsctl(['list-ports', BRIDGE])).includes(port), 'the mirror\'s port is gone');
      assert.ok(!(await node.links()).includes(port));

      // RSPAN to a VLAN, its process killed (SIGKILL leaves it); --stop removes it.
      const rspan = agent(node, ovs, ['shop/web-2', '--to-vlan', '99']);
      await poll(() => rspan.output.out.includes('VLAN 99'), { what: 'the RSPAN mirror' });
      assert.equal(await ovs.vsctl(['get', 'Mirror', 'bridgeway-shop/web-2', 'output_vlan']), '99');
      rspan.child.kill('SIGKILL');
      await rspan.exited;
      const again = agent(node, ovs, ['shop/web-2']);
      assert.equal(await again.exited, 2);
      assert.match(again.output.err, /mirrored already/);
      const stop = agent(node, ovs, ['shop/web-2', '--stop']);
      assert.equal(await stop.exited, 0, stop.output.err);
      assert.match(stop.output.out, /removed the mirror of shop\/web-2/);
      assert.equal(await ovs.vsctl(['list', 'Mirror']), '');
      assert.equal((await ovs.vsctl(['list-ports', BRIDGE])).split('\n').length, 2, 'the pods\' ports stay');
    }));
});
