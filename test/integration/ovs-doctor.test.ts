// Issue 21 part 2: the doctor on a node with an Open vSwitch network. The real
// dist/bridgeway-agent doctor, inside the test's node namespace, reading a conf dir with the OVS
// network's config and the test's own OVS (userspace datapath). A healthy node has no OVS finding
// above OK; then each fault is made in turn and must be named: a pod's VLAN changed by hand, a
// pod's veth deleted behind the plugin, a port removed from OVS (its veth a port of nothing), a
// mirror whose process was killed, ovs-vswitchd stopped, ovsdb-server stopped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { hostVethName } from '../../lib/names.ts';
import { createRunner } from '../../lib/exec.ts';
import { poll } from '../support/poll.ts';
import { ovsMissing, TestOvs } from '../support/ovs.ts';
import { AGENT } from '../support/cluster.ts';
import { skipUnlessAgent, TestNode } from './harness.ts';

const run = createRunner();
const skip = skipUnlessAgent || ovsMissing;
const BRIDGE = 'brovs0';

interface Finding { severity: 'OK' | 'WARN' | 'FAIL'; check: string; object: string; detail: string; fix?: string }

describe('doctor on Open vSwitch networks', { skip }, () => {
  test('healthy, then each fault named: VLAN, missing veth, veth of no bridge, mirror left behind, vswitchd and ovsdb-server down', async () => {
    const node = await TestNode.create();
    try {
      const ovs = await TestOvs.start(node.lab, node.name);
      try {
        const conf = node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev', vlanByNamespace: { blue: 10, red: 20 } });
        const confDir = path.join(node.dir, 'net.d');
        fs.mkdirSync(confDir);
        const { ipam: _ipam, ...plugin } = conf;
        fs.writeFileSync(path.join(confDir, '20-ovs.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: conf.name, plugins: [{ ...plugin, ipam: conf.ipam }] }));
        fs.writeFileSync(path.join(node.dir, 'nodes.yaml'), 'nodes: []\n');
        const doctor = async (): Promise<Finding[]> => {
          const args = ['doctor', '--json', '--node-name', 'n', '--cluster-cidr', '10.99.0.0/16', '--nodes-file', path.join(node.dir, 'nodes.yaml'), '--cni-conf-dir', confDir, '--cni-bin-dir', node.dir, '--data-dir', path.join(node.dir, 'ipam')];
          const result = await run(['nsenter', `--net=${node.path}`, '--', AGENT, ...args]).catch((e: { stdout: string }) => e);
          return (JSON.parse(result.stdout) as { findings: Finding[] }).findings.filter((f) => f.check === 'ovs');
        };
        // As the agent's doctor on an OVS node runs: the pods' anti-spoofing flows judged too.
        const guardFindings = async (): Promise<Finding[]> => {
          const args = ['doctor', '--json', '--node-name', 'n', '--cluster-cidr', '10.99.0.0/16', '--nodes-file', path.join(node.dir, 'nodes.yaml'), '--cni-conf-dir', confDir, '--cni-bin-dir', node.dir, '--data-dir', path.join(node.dir, 'ipam'),
            '--bridge-type', 'ovs', '--bridge', BRIDGE, '--ovsdb-socket', ovs.socket];
          const result = await run(['nsenter', `--net=${node.path}`, '--', AGENT, ...args]).catch((e: { stdout: string }) => e);
          return (JSON.parse(result.stdout) as { findings: Finding[] }).findings.filter((f) => f.check === 'antispoof');
        };
        const named = (findings: Finding[], severity: string, pattern: RegExp) => findings.some((f) => f.severity === severity && pattern.test(`${f.object}: ${f.detail}`));

        const [blue1, blue2, red1] = await node.podBatch(3);
        for (const [pod, id, ns] of [[blue1!, 'd1', 'blue'], [blue2!, 'd2', 'blue'], [red1!, 'd3', 'red']] as const) {
          const res = await node.cni({ command: 'ADD', containerId: id, netns: pod, ifname: 'eth0', conf, args: `K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=${id}` });
          assert.equal(res.exitCode, 0, res.stdout);
        }
        const healthy = await doctor();
        assert.deepEqual(healthy.filter((f) => f.severity !== 'OK'), [], JSON.stringify(healthy, null, 1));
        assert.ok(named(healthy, 'OK', /ovs-vswitchd .*running \(pid \d+\)/), JSON.stringify(healthy));
        assert.ok(named(healthy, 'OK', /bridge brovs0: datapath netdev/));
        assert.ok(named(healthy, 'OK', /3 pod port\(s\)/));
        const guards = await guardFindings();
        assert.ok(named(guards, 'OK', new RegExp(`anti-spoofing flows on ${BRIDGE}: in place for 3 guarded ports`)), JSON.stringify(guards));
        const ofport = await ovs.vsctl(['get', 'Interface', hostVethName('d1', 'eth0'), 'ofport']);
        await ovs.ofctl(['--strict', 'del-flows', BRIDGE, `priority=49000,in_port=${ofport}`]);
        const broken = await guardFindings();
        assert.ok(named(broken, 'FAIL', new RegExp(`port ${hostVethName('d1', 'eth0')} \\(ofport ${ofport}, .*\\): lacks 1 anti-spoofing flow`)), JSON.stringify(broken));

        // A pod's VLAN changed by hand.
        const [v1, v2, v3] = [hostVethName('d1', 'eth0'), hostVethName('d2', 'eth0'), hostVethName('d3', 'eth0')];
        await ovs.vsctl(['set', 'Port', v1, 'tag=20']);
        let findings = await doctor();
        assert.ok(named(findings, 'FAIL', new RegExp(`port ${v1}: pod blue/d1 is on VLAN 20, and its namespace's is VLAN 10`)), JSON.stringify(findings));
        await ovs.vsctl(['set', 'Port', v1, 'tag=10']);

        // A veth deleted behind the plugin: its port is in the database only.
        await node.exec(['ip', 'link', 'del', v2]);
        // A port removed from OVS behind the plugin: its veth is a port of nothing.
        await ovs.vsctl(['del-port', BRIDGE, v3]);
        // A mirror whose process was killed.
        const mirror = spawn('nsenter', [`--net=${node.path}`, '--', AGENT, 'mirror', 'blue/d1', '--to-vlan', '77', '--ovsdb-socket', ovs.socket], { stdio: ['ignore', 'pipe', 'inherit'] });
        node.lab.track(mirror);
        let out = '';
        mirror.stdout!.on('data', (d) => (out += d));
        await poll(() => out.includes('VLAN 77'), { what: 'the mirror' });
        const live = await doctor();
        assert.ok(named(live, 'OK', /mirror bridgeway-blue\/d1: pod blue\/d1 mirrored to VLAN 77 by bridgeway-agent mirror/), JSON.stringify(live));
        mirror.kill('SIGKILL');
        await new Promise((resolve) => mirror.once('exit', resolve));
        findings = await doctor();
        assert.ok(named(findings, 'FAIL', new RegExp(`port ${v2}: pod blue/d2's port is in the database but its veth is not in the kernel`)), JSON.stringify(findings));
        assert.ok(named(findings, 'FAIL', new RegExp(`host veth ${v3}: a bridgeway host veth that is a port of no Linux bridge and of no Open vSwitch bridge`)), JSON.stringify(findings));
        assert.ok(named(findings, 'WARN', /mirror bridgeway-blue\/d1: pod blue\/d1 is still mirrored to VLAN 77, .* is gone/), JSON.stringify(findings));
        assert.equal(findings.find((f) => f.object.startsWith('mirror '))!.fix, 'bridgeway-agent mirror blue/d1 --stop');

        // ovs-vswitchd stopped: an ADD waits for it in vain (code 11), and leaves its change unapplied.
        await ovs.stopVswitchd();
        findings = await doctor();
        assert.ok(named(findings, 'WARN', /ovs-vswitchd .*: no ovs-vswitchd process visible/), JSON.stringify(findings));
        const [late] = await node.podBatch(1);
        const refused = await node.cni({ command: 'ADD', containerId: 'd4', netns: late, ifname: 'eth0', conf, args: 'K8S_POD_NAMESPACE=blue;K8S_POD_NAME=d4' });
        assert.equal(refused.json?.code, 11, refused.stdout);
        findings = await doctor();
        assert.ok(named(findings, 'FAIL', /ovs-vswitchd .*: not running: .*cur_cfg \d+ < next_cfg \d+/), JSON.stringify(findings));

        // ovsdb-server stopped.
        await ovs.stopDb();
        findings = await doctor();
        assert.ok(named(findings, 'FAIL', new RegExp(`ovsdb-server ${ovs.socket}: .*every ADD on network testnet fails`)), JSON.stringify(findings));
      } finally {
        await ovs.stop();
      }
    } finally {
      await node.cleanup();
    }
  });
});
