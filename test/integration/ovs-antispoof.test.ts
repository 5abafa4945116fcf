// Anti-spoofing on an Open vSwitch network (issue 21): the OpenFlow guard flows
// (lib/openflow/port-guard.ts) that ADD installs by default, against a hostile pod. The real
// dist/bridgeway against a real ovsdb-server and ovs-vswitchd of the test's own (the userspace
// datapath: this kernel has no openvswitch module); the attacker crafts frames with scapy in its
// own namespace (hostile-pod.ts), a capture in the victim's namespace says what arrived. Then DEL,
// GC, CHECK, a VM's port, an ovs-vswitchd restart (the agent's reconcile, syncPortGuards, puts the
// flows back) and an OpenFlow socket that is gone at ADD.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { linkLocalFromMac } from '../../lib/antispoof/ruleset.ts';
import { formatIp, parseIp } from '../../lib/cidr.ts';
import { hostVethName, OVS_IDS } from '../../lib/names.ts';
import { connectOpenFlow, mgmtSocket } from '../../lib/openflow/client.ts';
import { syncPortGuards } from '../../lib/openflow/guard-sync.ts';
import { guardCookie, planPortGuard } from '../../lib/openflow/port-guard.ts';
import { connectOvsdb } from '../../lib/ovsdb/client.ts';
import { ovsMissing, ovsValue, type TestOvs } from '../support/ovs.ts';
import { skipUnlessRoot, type TestNode } from './harness.ts';
import { attack, capture, marker, scapyAvailable, tagged, type Frame } from './hostile-pod.ts';
import { withOvs } from './ovs-node.ts';

const skip = skipUnlessRoot || ovsMissing;
const BRIDGE = 'brguard0';
const V4 = '10.97.0.0/24';
const V6 = 'fd00:97::/64';
const ARBITRARY4 = '10.66.0.9';
const ARBITRARY6 = '2001:db8:66::9';
const FORGED_MAC = '02:66:66:66:66:66';

interface Pod {
  netns: string;
  containerId: string;
  ipv4: string;
  ipv6: string;
  mac: string;
  port: string;
  result: Record<string, any>;
}

function ovsConf(node: TestNode, ovs: TestOvs): Record<string, any> {
  return node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev', ipam: { ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] } });
}

async function addPod(node: TestNode, conf: object, netns: string, containerId: string): Promise<Pod> {
  const res = await node.cni({ command: 'ADD', containerId, netns, ifname: 'eth0', conf });
  assert.equal(res.exitCode, 0, `ADD ${containerId}: ${res.stdout} ${res.stderr}`);
  const result = res.json!;
  const address = (family: string) => (result.ips as { address: string }[]).map((ip) => ip.address.split('/')[0]!).find((a) => a.includes(family))!;
  return { netns, containerId, ipv4: address('.'), ipv6: address(':'), mac: result.interfaces[2].mac, port: result.interfaces[1].name, result };
}

/** The guard flows of one attachment on the bridge, as ovs-ofctl prints them (either generation). */
async function guardFlows(ovs: TestOvs, containerId: string): Promise<string[]> {
  const cookie = guardCookie('testnet', containerId, 'eth0');
  const out = await ovs.ofctl(['dump-flows', BRIDGE, `cookie=0x${cookie.toString(16)}/0xfffffffffffffffe`]);
  return out.split('\n').filter((l) => l.includes('cookie='));
}

async function ofport(ovs: TestOvs, port: string): Promise<number> {
  return Number(await ovs.vsctl(['get', 'Interface', port, 'ofport']));
}

/**
 * The attacker's frames that reached the victim claiming what it is not: anything but its own
 * identity (DAD and its MLD report come from ::, and are its own).
 */
function foreign(frames: Frame[], attacker: Pod): string[] {
  const own = new Set([attacker.ipv4, attacker.ipv6, formatIp(linkLocalFromMac(attacker.mac))]);
  return frames
    .filter((f) => f.smac === attacker.mac || f.smac === FORGED_MAC)
    .filter((f) => f.smac === FORGED_MAC
      || (f.kind === 'arp' && (f.psrc !== attacker.ipv4 || f.hwsrc !== attacker.mac))
      || ((f.kind === 'ip' || f.kind === 'ip6') && !own.has(f.src!) && !(f.src === '::' && (f.icmp6 === 135 || f.icmp6 === 143)))
      || (f.icmp6 === 136 && !own.has(f.tgt!))
      || f.icmp6 === 134 || f.icmp6 === 137 || f.icmp === 5 || f.sport === 67 || f.sport === 547)
    .map((f) => JSON.stringify(f));
}

describe('anti-spoofing on an Open vSwitch network (OpenFlow guard flows)', { skip }, () => {
  test('a hostile pod\'s forged frames never reach its neighbour; its own traffic does; DEL, GC, CHECK, a VM\'s port, an ovs-vswitchd restart', () =>
    withOvs(async (node, ovs) => {
      if (!(await scapyAvailable(node))) throw new Error('python3-scapy is missing (scripts/install-deps.sh installs it)');
      const conf = ovsConf(node, ovs);
      const [victimNs, neighbourNs, attackerNs, thirdNs, vmNs] = await node.podBatch(5);
      const victim = await addPod(node, conf, victimNs!, 'victim');
      const neighbour = await addPod(node, conf, neighbourNs!, 'neighbour');
      const attacker = await addPod(node, conf, attackerNs!, 'attacker');

      // The flows: the pipeline and each port's guard, on the port's ofport; the Interface keeps
      // what the agent needs to put them back.
      const attackerOfport = await ofport(ovs, attacker.port);
      const planned = planPortGuard({ cookie: 0n, ofport: attackerOfport, mac: attacker.mac, addresses: [parseIp(attacker.ipv4)!, parseIp(attacker.ipv6)!] });
      assert.equal((await guardFlows(ovs, 'attacker')).length, planned.length);
      assert.ok((await guardFlows(ovs, 'attacker')).every((l) => l.includes(`in_port=${attackerOfport}`)));
      const pipeline = await ovs.ofctl(['dump-flows', BRIDGE, 'cookie=0x6272777000000000/0xffffffff00000000']);
      assert.match(pipeline, /priority=1 actions=goto_table:1/);
      assert.match(pipeline, /table=1, .*priority=0 actions=NORMAL/);
      const [iface] = await ovs.rows(['find', 'Interface', `name=${attacker.port}`]);
      const ids = ovsValue(iface!.external_ids) as Record<string, string>;
      assert.equal(ids[OVS_IDS.attachedMac], attacker.mac);
      assert.deepEqual(ids[OVS_IDS.antispoofIps]!.split(',').sort(), [attacker.ipv4, attacker.ipv6].sort());

      // Its own traffic: both families (ARP and ND included), TCP, to a neighbour and the gateway.
      assert.ok(await node.ping(attacker.netns, victim.ipv4), 'attacker -> victim, IPv4');
      assert.ok(await node.ping(attacker.netns, victim.ipv6), 'attacker -> victim, IPv6 (ND from its own addresses)');
      assert.ok(await node.ping(attacker.netns, '10.97.0.1'), 'attacker -> gateway');
      assert.ok(await node.ping(victim.netns, attacker.ipv6), 'victim -> attacker, IPv6');
      const server = node.exec(['python3', '-c', 'import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("0.0.0.0",7071));s.listen();c,_=s.accept();c.sendall(b"ok");c.close()'], victim.netns);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const client = await node.exec(['python3', '-c', `import socket;s=socket.create_connection(("${victim.ipv4}",7071),timeout=3);print(s.recv(2).decode())`], attacker.netns);
      assert.equal(client.stdout.trim(), 'ok', 'TCP attacker -> victim');
      await server;

      // The attacks, each at the victim; the markers (from its own addresses) end the capture.
      const markers = [marker('v4'), marker('v6')];
      const cap = await capture(node, victim.netns, markers);
      await attack(node, attacker.netns,
        ['udp', victim.mac, neighbour.ipv4, victim.ipv4, 'spoof neighbour v4'],
        ['udp', victim.mac, ARBITRARY4, victim.ipv4, 'spoof arbitrary v4'],
        ['udp', victim.mac, neighbour.ipv6, victim.ipv6, 'spoof neighbour v6'],
        ['udp', victim.mac, ARBITRARY6, victim.ipv6, 'spoof arbitrary v6'],
        ['as-mac', FORGED_MAC, victim.mac, attacker.ipv4, victim.ipv4, 'forged mac v4'],
        ['as-mac', neighbour.mac, victim.mac, neighbour.ipv4, victim.ipv4, 'neighbour mac v4'],
        ['garp', neighbour.ipv4],
        ['garp', '10.97.0.1'],
        ['arp-reply', neighbour.ipv4, victim.ipv4, victim.mac],
        ['na', attacker.ipv6, neighbour.ipv6],
        ['na-to', attacker.ipv6, 'fd00:97::1', victim.ipv6, victim.mac, '1'],
        ['ra', formatIp(linkLocalFromMac(attacker.mac))],
        ['redirect6', victim.ipv6, victim.mac, 'fe80::1', attacker.ipv6, '2001:db8:1::9'],
        ['redirect4', victim.ipv4, victim.mac, '10.97.0.1', attacker.ipv4, '203.0.113.9'],
        ['dhcp4-offer', victim.mac, attacker.ipv4, victim.ipv4, victim.mac],
        ['dhcp6-advertise', victim.mac, attacker.ipv6, victim.ipv6],
        // Its own: a gratuitous ARP and an NA for its own address, which pass.
        ['garp', attacker.ipv4],
        ['na', attacker.ipv6, attacker.ipv6],
        ['pause', '0.2'],
        ['udp', victim.mac, attacker.ipv4, victim.ipv4, markers[0]!],
        ['udp', victim.mac, attacker.ipv6, victim.ipv6, markers[1]!],
      );
      const frames = await cap.frames();
      assert.deepEqual(foreign(frames, attacker), [], 'nothing forged arrived');
      assert.deepEqual([...tagged(frames, 'spoof'), ...tagged(frames, 'forged'), ...tagged(frames, 'neighbour')], []);
      assert.ok(frames.some((f) => f.kind === 'arp' && f.psrc === attacker.ipv4 && f.hwsrc === attacker.mac), 'its own gratuitous ARP arrived');
      assert.ok(frames.some((f) => f.icmp6 === 136 && f.src === attacker.ipv6 && f.tgt === attacker.ipv6), 'its own NA arrived');
      // The victim's neighbour table still maps the neighbour and the gateway to their own MACs.
      const neigh = (await node.exec(['ip', 'neigh', 'show', 'dev', 'eth0'], victim.netns)).stdout;
      assert.doesNotMatch(neigh, new RegExp(`${neighbour.ipv4} .*${attacker.mac}`));
      assert.doesNotMatch(neigh, new RegExp(`10\\.97\\.0\\.1 .*${attacker.mac}`));

      // CHECK: passes; a guard flow deleted behind our back is named.
      const check = () => node.cni({ command: 'CHECK', containerId: 'attacker', netns: attacker.netns, ifname: 'eth0', conf: { ...conf, prevResult: attacker.result } });
      const ok = await check();
      assert.equal(ok.exitCode, 0, ok.stdout);
      await ovs.ofctl(['--strict', 'del-flows', BRIDGE, `priority=49000,in_port=${attackerOfport}`]);
      const bad = await check();
      assert.equal(bad.exitCode, 1);
      assert.match(bad.json!.msg, new RegExp(`lacks 1 anti-spoofing flow\\(s\\): table=0,priority=49000,in_port=${attackerOfport} actions=drop`));

      // ovs-vswitchd restarts: every flow is lost; the agent's reconcile (syncPortGuards, what
      // its OVS step runs at each sync) puts them back, and a forged source is dropped again.
      await ovs.stopVswitchd();
      fs.rmSync(path.join(ovs.dir, 'ovs-vswitchd.ctl'), { force: true });
      await ovs.startVswitchd();
      const socket = mgmtSocket(ovs.socket, BRIDGE);
      for (let i = 0; i < 100 && !fs.existsSync(socket); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(await guardFlows(ovs, 'attacker'), [], 'a restart loses the flows');
      const [of, db] = [await connectOpenFlow(socket), await connectOvsdb(ovs.socket)];
      try {
        const outcome = await syncPortGuards(of, db, BRIDGE);
        assert.deepEqual(outcome.installed.sort(), [attacker.port, neighbour.port, victim.port].sort());
        assert.deepEqual((await syncPortGuards(of, db, BRIDGE)).installed, [], 'the next sync has nothing to do');
      } finally {
        of.close();
        db.close();
      }
      assert.equal((await guardFlows(ovs, 'attacker')).length, planned.length);
      assert.equal((await check()).exitCode, 0, 'CHECK passes again');
      const again = [marker('after restart')];
      const cap2 = await capture(node, victim.netns, again);
      await attack(node, attacker.netns, ['udp', victim.mac, neighbour.ipv4, victim.ipv4, 'spoof after restart'], ['pause', '0.2'], ['udp', victim.mac, attacker.ipv4, victim.ipv4, again[0]!]);
      assert.deepEqual(tagged(await cap2.frames(), 'spoof'), []);
      assert.ok(await node.ping(attacker.netns, victim.ipv4), 'its own traffic after the restart');

      // A VM's port, made by the admin: no guard, it sends from addresses of its own choosing.
      await node.exec(['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vmNs!]);
      await node.exec(['ip', 'link', 'set', 'vnet0', 'up']);
      await ovs.vsctl(['add-port', BRIDGE, 'vnet0']);
      await node.exec(['ethtool', '-K', 'eth0', 'tx', 'off'], vmNs);
      await node.exec(['ip', 'addr', 'add', '10.97.0.250/24', 'dev', 'eth0'], vmNs);
      await node.exec(['ip', 'link', 'set', 'eth0', 'up'], vmNs);
      assert.ok(await node.ping(vmNs!, victim.ipv4), 'VM -> pod');
      assert.ok(await node.ping(victim.netns, '10.97.0.250'), 'pod -> VM');
      const vmOfport = await ofport(ovs, 'vnet0');
      assert.doesNotMatch(await ovs.ofctl(['dump-flows', BRIDGE]), new RegExp(`in_port=${vmOfport}\\b`), 'no flow names the VM\'s port');

      // DEL: the attacker's flows go, the others' stay.
      const del = await node.cni({ command: 'DEL', containerId: 'attacker', netns: attacker.netns, ifname: 'eth0', conf });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(await guardFlows(ovs, 'attacker'), []);
      assert.equal((await guardFlows(ovs, 'victim')).length > 0, true);

      // GC: a third pod not listed goes with its flows; a guard whose port was removed behind our
      // back (ovs-vsctl del-port) goes too; the valid ones and the VM's port stay.
      await addPod(node, conf, thirdNs!, 'third');
      assert.ok((await guardFlows(ovs, 'third')).length > 0);
      await ovs.vsctl(['del-port', BRIDGE, neighbour.port]);
      assert.ok((await guardFlows(ovs, 'neighbour')).length > 0, 'OVS keeps the flows of a port it removed');
      const gc = await node.cni({ command: 'GC', conf: { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'victim', ifname: 'eth0' }, { containerID: 'neighbour', ifname: 'eth0' }] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(await guardFlows(ovs, 'third'), []);
      assert.deepEqual(await guardFlows(ovs, 'neighbour'), []);
      assert.equal((await guardFlows(ovs, 'victim')).length, planPortGuard({ cookie: 0n, ofport: 1, mac: victim.mac, addresses: [parseIp(victim.ipv4)!, parseIp(victim.ipv6)!] }).length);
      assert.ok(await node.ping(vmNs!, victim.ipv4), 'the VM still reaches the pod');

      // The OpenFlow socket gone at ADD (ovs-vswitchd's, removed): code 11 naming it, and nothing left.
      fs.rmSync(socket);
      const [lateNs] = await node.podBatch(1);
      const failed = await node.cni({ command: 'ADD', containerId: 'late', netns: lateNs, ifname: 'eth0', conf });
      assert.equal(failed.exitCode, 1);
      assert.equal(failed.json!.code, 11);
      assert.match(failed.json!.msg, new RegExp(`OpenFlow socket ${socket.replace(/[.]/g, '\\.')}`));
      assert.equal((await ovs.vsctl(['list-ports', BRIDGE])).split('\n').includes(hostVethName('late', 'eth0')), false, `the port was undone: ${failed.stdout}`);
      assert.ok(!(await node.links()).includes(hostVethName('late', 'eth0')), 'the veth was undone');
    }));
});
