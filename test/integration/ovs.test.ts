// Issue 21: "bridgeType": "ovs". The real dist/bridgeway against a real ovsdb-server and
// ovs-vswitchd of the test's own (test/support/ovs.ts: its own database and run directory,
// vswitchd inside the test's node namespace, the userspace datapath, since this kernel has no
// openvswitch module). The database is read back with ovs-vsctl after each command.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { hostVethName, OVS_IDS } from '../../lib/names.ts';
import { poll } from '../support/poll.ts';
import { ovsMissing, ovsValue, TestOvs } from '../support/ovs.ts';
import { PLUGIN, skipUnlessRoot, TestNode } from './harness.ts';
import { withOvs } from './ovs-node.ts';

const skip = skipUnlessRoot || ovsMissing;
const BRIDGE = 'brovs0';

function ovsConf(node: TestNode, ovs: TestOvs, extra: Record<string, unknown> = {}, subnet?: string): Record<string, any> {
  return node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev', ...extra }, subnet);
}

const podArgs = (namespace: string, name: string) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name}`;

async function add(node: TestNode, conf: object, netns: string, containerId: string, args?: string): Promise<Record<string, any>> {
  const res = await node.cni({ command: 'ADD', containerId, netns, ifname: 'eth0', conf, ...(args ? { args } : {}) });
  assert.equal(res.exitCode, 0, `ADD ${containerId}: ${res.stdout} ${res.stderr}`);
  return res.json!;
}

async function port(ovs: TestOvs, name: string): Promise<Record<string, any> | undefined> {
  const [row] = await ovs.rows(['find', 'Port', `name=${name}`]);
  return row ? Object.fromEntries(Object.entries(row).map(([k, v]) => [k, ovsValue(v)])) : undefined;
}

async function ports(ovs: TestOvs): Promise<string[]> {
  return (await ovs.vsctl(['list-ports', BRIDGE])).split('\n').filter(Boolean).sort();
}

/** One TCP connection from `fromNetns` to a server in `toNetns` on `address` (Node at both ends: no nc here). */
async function tcpWorks(node: TestNode, fromNetns: string, toNetns: string, address: string): Promise<boolean> {
  const server = spawn('nsenter', [`--net=${toNetns}`, '--', process.execPath, '-e',
    "require('net').createServer((s) => s.end('ok')).listen(7070, () => console.log('ready'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  node.lab.track(server);
  try {
    // One listener from the start: a 'ready' printed between two polls must not be missed.
    let ready = false;
    server.stdout!.once('data', () => (ready = true));
    await poll(() => ready, { what: 'the TCP server' });
    const client = await node.exec([process.execPath, '-e',
      `const s = require('net').connect(7070, ${JSON.stringify(address)}); let d = ''; s.on('data', (c) => d += c); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), 2000);`], fromNetns).catch(() => undefined);
    return client?.stdout.trim() === 'ok';
  } finally {
    server.kill('SIGKILL');
  }
}

/** Prints "arp vlan <id|none>" per ARP frame received on eth0 until SIGTERM. */
const VLAN_SNIFFER = `
import socket, struct, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(('eth0', 0))
s.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
print('ready', flush=True)
while True:
    data, anc, _, _ = s.recvmsg(65535, socket.CMSG_SPACE(20))
    vlan = None
    for level, kind, aux in anc:
        if level == 263 and kind == 8:
            status, _, _, _, _, tci = struct.unpack('IIIHHH', aux[:18])
            if status & 0x10: vlan = tci & 0xfff
    ethertype = struct.unpack('!H', data[12:14])[0]
    if ethertype == 0x8100:
        vlan = struct.unpack('!H', data[14:16])[0] & 0xfff
        ethertype = struct.unpack('!H', data[16:18])[0]
    if ethertype == 0x0806:
        print('arp vlan', vlan if vlan is not None else 'none', flush=True)
`;

describe('Open vSwitch bridge ("bridgeType": "ovs")', { skip }, () => {
  test('ADD, CHECK, DEL and GC, with the database read back after each; a VM\'s port survives GC', () =>
    withOvs(async (node, ovs) => {
      const conf = ovsConf(node, ovs);
      const [pod1, pod2, vm] = await node.podBatch(3);
      const result = await add(node, conf, pod1!, 'c1', podArgs('shop', 'web-1'));
      const veth1 = hostVethName('c1', 'eth0');
      assert.equal(result.ips[0].address, '10.99.0.2/24');

      // The bridge: made by ADD, on the datapath the config names, with the gateway on its internal interface.
      assert.equal(await ovs.vsctl(['get', 'Bridge', BRIDGE, 'datapath_type']), 'netdev');
      const [internal] = await node.ipJson(['addr', 'show', 'dev', BRIDGE]);
      assert.ok(internal.addr_info.some((a: any) => a.local === '10.99.0.1' && a.prefixlen === 24), JSON.stringify(internal.addr_info));
      assert.equal(internal.address, result.interfaces[0].mac, 'the result reports the internal interface\'s MAC');
      assert.equal(internal.address, '0a:58:0a:63:00:01', 'the bridge MAC derives from the gateway (other_config:hwaddr)');

      // The port: one row with the attachment's external_ids, the pod's namespace and name included.
      assert.deepEqual(await ports(ovs), [veth1]);
      const row = await port(ovs, veth1);
      assert.deepEqual(row!.external_ids, {
        [OVS_IDS.network]: 'testnet', [OVS_IDS.containerId]: 'c1', [OVS_IDS.ifname]: 'eth0', [OVS_IDS.podNamespace]: 'shop', [OVS_IDS.podName]: 'web-1',
      });
      assert.deepEqual(row!.tag, [], 'no VLAN keys: no tag');
      assert.equal(await ovs.vsctl(['get', 'Interface', veth1, 'error']), '[]');

      // The userspace datapath: the pod's TX checksum offload is off, and TCP works (ping would either way).
      assert.match((await node.exec(['ethtool', '-k', 'eth0'], pod1)).stdout, /^tx-checksumming: off/m);
      assert.ok(await node.ping(pod1!, '10.99.0.1'), 'pod -> gateway');
      const result2 = await add(node, conf, pod2!, 'c2', podArgs('shop', 'web-2'));
      const ip2 = result2.ips[0].address.split('/')[0];
      assert.ok(await node.ping(pod1!, ip2), 'pod -> pod');
      assert.ok(await tcpWorks(node, pod1!, pod2!, ip2), 'TCP pod -> pod');
      assert.ok(await tcpWorks(node, node.path, pod2!, ip2), 'TCP node -> pod (through the internal interface)');

      // CHECK: passes; a port turned into another VLAN behind our back is named.
      const check = () => node.cni({ command: 'CHECK', containerId: 'c1', netns: pod1, ifname: 'eth0', args: podArgs('shop', 'web-1'), conf: { ...conf, prevResult: result } });
      const ok = await check();
      assert.equal(ok.exitCode, 0, ok.stdout);
      await ovs.vsctl(['set', 'Port', veth1, 'tag=42']);
      const bad = await check();
      assert.equal(bad.exitCode, 1);
      assert.equal(bad.json!.code, 101);
      assert.match(bad.json!.msg, /access port of VLAN 42, the config makes it a port without VLAN settings/);
      await ovs.vsctl(['clear', 'Port', veth1, 'tag']);

      // A VM's port, made as libvirt makes one (<virtualport type='openvswitch'/>): no bridgeway ids.
      await node.exec(['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm!]);
      await node.exec(['ip', 'link', 'set', 'vnet0', 'up']);
      await ovs.vsctl(['add-port', BRIDGE, 'vnet0', '--', 'set', 'Interface', 'vnet0', 'external_ids:vm-id=guest1']);

      // GC: c2 is no longer listed; its port, veth and address go; c1's and the VM's stay.
      const gc = await node.cni({ command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(await ports(ovs), [veth1, 'vnet0'].sort());
      assert.equal(await port(ovs, hostVethName('c2', 'eth0')), undefined);
      assert.ok(!(await node.links()).includes(hostVethName('c2', 'eth0')));
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2']);

      // DEL: the port (ours by its ids) and the veth go, the address is released; again: still success.
      for (let i = 0; i < 2; i++) {
        const del = await node.cni({ command: 'DEL', containerId: 'c1', netns: pod1, ifname: 'eth0', conf });
        assert.equal(del.exitCode, 0, del.stdout);
      }
      assert.deepEqual(await ports(ovs), ['vnet0']);
      assert.equal(await port(ovs, veth1), undefined);
      assert.equal((await ovs.rows(['find', 'Interface', `name=${veth1}`])).length, 0, 'the Interface row went with its Port');
      assert.ok(!(await node.links()).includes(veth1));
      assert.deepEqual(node.reservedAddresses(), []);

      // GC of an empty list leaves the VM's port alone.
      const gc2 = await node.cni({ command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [] } });
      assert.equal(gc2.exitCode, 0, gc2.stdout);
      assert.deepEqual(await ports(ovs), ['vnet0']);
    }));

  test('a VLAN per namespace: pods of one namespace reach each other, of two do not; an unknown namespace is refused', () =>
    withOvs(async (node, ovs) => {
      const conf = ovsConf(node, ovs, { vlanByNamespace: { blue: 10, red: 20 }, isGateway: false });
      const [blue1, blue2, red1, other] = await node.podBatch(4);
      const ipOf = (r: Record<string, any>) => r.ips[0].address.split('/')[0] as string;
      await add(node, conf, blue1!, 'b1', podArgs('blue', 'a'));
      const b2 = await add(node, conf, blue2!, 'b2', podArgs('blue', 'b'));
      const r1 = await add(node, conf, red1!, 'r1', podArgs('red', 'c'));
      assert.equal(await ovs.vsctl(['get', 'Port', hostVethName('b1', 'eth0'), 'tag']), '10');
      assert.equal(await ovs.vsctl(['get', 'Port', hostVethName('r1', 'eth0'), 'tag']), '20');
      assert.ok(await node.ping(blue1!, ipOf(b2)), 'blue -> blue');
      assert.ok(await tcpWorks(node, blue1!, blue2!, ipOf(b2)), 'TCP blue -> blue');
      assert.ok(!(await node.ping(blue1!, ipOf(r1))), 'blue -> red is another VLAN');
      assert.ok(!(await tcpWorks(node, blue1!, red1!, ipOf(r1))), 'no TCP blue -> red');

      const refused = await node.cni({ command: 'ADD', containerId: 'x1', netns: other, ifname: 'eth0', conf, args: podArgs('green', 'd') });
      assert.equal(refused.exitCode, 1);
      assert.equal(refused.json!.code, 7);
      assert.match(refused.json!.msg, /namespace "green" has no VLAN in "vlanByNamespace"/);
      assert.equal(await port(ovs, hostVethName('x1', 'eth0')), undefined);
      assert.equal(node.reservedAddresses().length, 3, 'nothing reserved for the refused pod');

      // With a defaultVlan, the unknown namespace gets it.
      const withDefault = { ...conf, defaultVlan: 30 };
      await add(node, withDefault, other!, 'x1', podArgs('green', 'd'));
      assert.equal(await ovs.vsctl(['get', 'Port', hostVethName('x1', 'eth0'), 'tag']), '30');
    }));

  test('a trunk port gets the VLANs it lists tagged, and no other', () =>
    withOvs(async (node, ovs) => {
      const [trunkPod, access100, access300] = await node.podBatch(3);
      const trunk = ovsConf(node, ovs, { name: 'trunknet', trunk: [100, 200], isGateway: false }, '10.97.1.0/24');
      await add(node, trunk, trunkPod!, 't1');
      assert.equal(await ovs.vsctl(['get', 'Port', hostVethName('t1', 'eth0'), 'trunks']), '[100, 200]');
      await add(node, ovsConf(node, ovs, { name: 'vlan100', vlan: 100, isGateway: false }, '10.97.2.0/24'), access100!, 'a100');
      await add(node, ovsConf(node, ovs, { name: 'vlan300', vlan: 300, isGateway: false }, '10.97.3.0/24'), access300!, 'a300');
      // No 8021q module in this kernel for a VLAN subinterface: the trunk pod reads its frames
      // with a packet socket, each one's 802.1Q tag from the kernel's auxdata (or the frame itself).
      const sniffer = spawn('nsenter', [`--net=${trunkPod}`, '--', '/usr/bin/python3', '-c', VLAN_SNIFFER], { stdio: ['ignore', 'pipe', 'inherit'] });
      node.lab.track(sniffer);
      let out = '';
      sniffer.stdout!.on('data', (d) => (out += d));
      await poll(() => out.includes('ready'), { what: 'the sniffer' });
      // Each access pod's ARP broadcast for an address nobody has: VLAN 100 is in the trunk, 300 not.
      await node.exec(['ping', '-c', '2', '-W', '1', '10.97.2.200'], access100).catch(() => undefined);
      await node.exec(['ping', '-c', '2', '-W', '1', '10.97.3.200'], access300).catch(() => undefined);
      const done = new Promise((resolve) => sniffer.once('exit', resolve));
      sniffer.kill('SIGTERM');
      await done;
      const tags = new Set(out.split('\n').filter((l) => l.startsWith('arp vlan ')).map((l) => l.slice('arp vlan '.length)));
      assert.ok(tags.has('100'), `the trunk pod saw VLAN 100's ARP tagged: ${out}`);
      assert.ok(!tags.has('300') && !tags.has('none'), `nothing of VLAN 300, nothing untagged: ${out}`);
    }));

  test('concurrent ADDs on a bridge that does not exist yet: one bridge, every port', () =>
    withOvs(async (node, ovs) => {
      const conf = ovsConf(node, ovs);
      const pods = await node.podBatch(6);
      const results = await Promise.all(pods.map((pod, i) => node.cni({ command: 'ADD', containerId: `k${i}`, netns: pod, ifname: 'eth0', conf })));
      for (const res of results) assert.equal(res.exitCode, 0, `${res.stdout} ${res.stderr}`);
      assert.equal(await ovs.vsctl(['list-br']), BRIDGE);
      assert.deepEqual(await ports(ovs), pods.map((_, i) => hostVethName(`k${i}`, 'eth0')).sort());
      assert.ok(await node.ping(pods[0]!, results[5]!.json!.ips[0].address.split('/')[0]));
      const log = fs.readFileSync(node.logFile, 'utf8');
      assert.equal(log.match(/Open vSwitch bridge created/g)?.length, 1, 'one ADD made the bridge');
      // How many lost the race (found it absent, were refused, used it): said, not asserted (timing).
      console.log(`# ${log.match(/made by a concurrent ADD/g)?.length ?? 0} of 6 ADDs lost the race to make the bridge`);
    }));

  test('the bundle on Node (iproute2, ethtool in the pod): the same attachment, TCP included', () =>
    withOvs(async (node, ovs) => {
      const viaNode = path.join(node.dir, 'bridgeway');
      fs.writeFileSync(viaNode, `#!/bin/bash\nexec -a bridgeway ${process.execPath} ${path.resolve(PLUGIN + '.cjs')}\n`, { mode: 0o755 });
      const conf = ovsConf(node, ovs);
      const [pod1, pod2] = await node.podBatch(2);
      for (const [pod, id] of [[pod1!, 'n1'], [pod2!, 'n2']] as const) {
        const res = await node.cni({ command: 'ADD', containerId: id, netns: pod, ifname: 'eth0', conf, plugin: viaNode });
        assert.equal(res.exitCode, 0, `${res.stdout} ${res.stderr}`);
      }
      assert.match((await node.exec(['ethtool', '-k', 'eth0'], pod2)).stdout, /^tx-checksumming: off/m);
      assert.ok(await tcpWorks(node, pod1!, pod2!, '10.99.0.3'), 'TCP pod -> pod');
      const del = await node.cni({ command: 'DEL', containerId: 'n1', netns: pod1, ifname: 'eth0', conf, plugin: viaNode });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(await ports(ovs), [hostVethName('n2', 'eth0')]);
    }));

  test('a database that does not answer: code 11 naming the socket, nothing made or reserved; GC frees nothing', () =>
    withOvs(async (node, ovs) => {
      const conf = ovsConf(node, ovs);
      const [pod0, pod] = await node.podBatch(2);
      await add(node, conf, pod0!, 'd0');
      await ovs.stopDb();
      const res = await node.cni({ command: 'ADD', containerId: 'd1', netns: pod, ifname: 'eth0', conf });
      assert.equal(res.exitCode, 1);
      assert.equal(res.json!.code, 11);
      assert.ok(res.json!.msg.includes(ovs.socket), res.json!.msg);
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2'], 'nothing reserved for d1');
      assert.deepEqual((await node.links()).filter((l) => l.startsWith('bw')), [hostVethName('d0', 'eth0')], 'no host veth for d1');
      assert.deepEqual(await node.links(pod), ['lo'], 'no pod interface');
      const status = await node.cni({ command: 'STATUS', conf });
      assert.equal(status.json?.code, 50, status.stdout);
      // GC cannot see the ports: it must not free an address whose veth may still be in use.
      const gc = await node.cni({ command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [] } });
      assert.equal(gc.exitCode, 1);
      assert.match(gc.json!.msg, new RegExp(`GC incomplete: connect to the Open vSwitch database: .*${ovs.socket}`));
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2']);
      assert.ok((await node.links()).includes(hostVethName('d0', 'eth0')));
    }));

  test('an ovs-vswitchd that does not apply the port: code 11 after its wait, the port row, veth and address undone', () =>
    withOvs(async (node, ovs) => {
      const conf = ovsConf(node, ovs);
      const [pod1, pod2] = await node.podBatch(2);
      await add(node, conf, pod1!, 'v1');
      ovs.pauseVswitchd();
      let res;
      try {
        res = await node.cni({ command: 'ADD', containerId: 'v2', netns: pod2, ifname: 'eth0', conf });
      } finally {
        ovs.resumeVswitchd();
      }
      assert.equal(res.exitCode, 1);
      assert.equal(res.json!.code, 11, res.stdout);
      assert.match(res.json!.msg, /ovs-vswitchd did not apply port .* within 5000 ms/);
      assert.deepEqual(await ports(ovs), [hostVethName('v1', 'eth0')], 'the committed port was removed again');
      assert.ok(!(await node.links()).includes(hostVethName('v2', 'eth0')), 'the veth undone');
      assert.deepEqual(await node.links(pod2), ['lo'], 'the pod end went with it');
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2'], 'the address released');
      // And the next ADD of it succeeds.
      await add(node, conf, pod2!, 'v2');
      assert.equal((await ports(ovs)).length, 2);
    }));

  test('a port of our name that is not ours: refused and left alone, our veth and address undone', () =>
    withOvs(async (node, ovs) => {
      const conf = ovsConf(node, ovs);
      const [pod1, pod2] = await node.podBatch(2);
      await add(node, conf, pod1!, 'w1');
      await ovs.vsctl(['add-port', BRIDGE, hostVethName('w2', 'eth0'), '--', 'set', 'Interface', hostVethName('w2', 'eth0'), 'external_ids:owner=admin']);
      const taken = await node.cni({ command: 'ADD', containerId: 'w2', netns: pod2, ifname: 'eth0', conf });
      assert.equal(taken.exitCode, 1);
      assert.match(taken.json!.msg, /not this attachment's/);
      assert.ok(await port(ovs, hostVethName('w2', 'eth0')), 'the admin\'s port is left alone');
      assert.ok(!(await node.links()).includes(hostVethName('w2', 'eth0')), 'our veth undone');
      assert.deepEqual(node.reservedAddresses(), ['10.99.0.2']);
    }));
});
