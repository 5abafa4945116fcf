// Issue 21 part 2: per-pod QoS on an Open vSwitch bridge, on the wire. The real dist/bridgeway
// against a test's own ovsdb-server and ovs-vswitchd (userspace datapath); iperf3 between two
// pods, one limited to different rates in each direction, so each limit is measured on its own:
// egressRate (the pod's TBF) with the limited pod sending, ingressRate (the Port's linux-htb QoS)
// with it receiving (iperf3 -R). The rate is the receiver's, without the first second (the burst).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostVethName } from '../../lib/names.ts';
import { poll } from '../support/poll.ts';
import { ovsMissing, ovsValue, TestOvs } from '../support/ovs.ts';
import { PLUGIN, skipUnlessRoot, TestNode } from './harness.ts';
import { withOvs } from './ovs-node.ts';
import fs from 'node:fs';
import path from 'node:path';

const skip = skipUnlessRoot || ovsMissing;
const BRIDGE = 'brovs0';
const EGRESS = 20_000_000;
const INGRESS = 40_000_000;
const BURST = 1_000_000;

async function tableRows(ovs: TestOvs, table: string): Promise<Record<string, any>[]> {
  return (await ovs.rows(['list', table])).map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, ovsValue(v)])));
}

/** iperf3 from `client` to a one-shot server in `server`; the receiver's bits per second. */
async function iperf(node: TestNode, client: string, server: string, address: string, reverse: boolean): Promise<number> {
  const child = spawn('nsenter', [`--net=${server}`, '--', 'iperf3', '-s', '-1', '-p', '5301', '--forceflush'], { stdio: ['ignore', 'pipe', 'pipe'] });
  node.lab.track(child);
  try {
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await poll(() => out.includes('Server listening'), { what: 'iperf3 -s' });
    const res = await node.exec(['iperf3', '-c', address, '-p', '5301', '-t', '5', '-O', '1', '-J', ...(reverse ? ['-R'] : [])], client);
    return JSON.parse(res.stdout).end.sum_received.bits_per_second as number;
  } finally {
    child.kill('SIGKILL');
  }
}

const within = (measured: number, wanted: number) => Math.abs(measured - wanted) / wanted <= 0.1;

describe('Open vSwitch per-pod QoS (runtimeConfig.bandwidth)', { skip }, () => {
  test('each direction holds its rate within 10% under iperf3; CHECK sees both limits; DEL removes the QoS rows', () =>
    withOvs(async (node, ovs) => {
      const base = node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev' });
      const limited = { ...base, runtimeConfig: { bandwidth: { ingressRate: INGRESS, ingressBurst: BURST, egressRate: EGRESS, egressBurst: BURST } } };
      const [podA, podB] = await node.podBatch(2);
      const addA = await node.cni({ command: 'ADD', containerId: 'qa', netns: podA, ifname: 'eth0', conf: limited });
      assert.equal(addA.exitCode, 0, addA.stdout);
      const addB = await node.cni({ command: 'ADD', containerId: 'qb', netns: podB, ifname: 'eth0', conf: base });
      assert.equal(addB.exitCode, 0, addB.stdout);
      const ipB = addB.json!.ips[0].address.split('/')[0];

      // The database: one linux-htb QoS with one queue, on A's port only, owned by A's attachment.
      const [qos] = await tableRows(ovs, 'QoS');
      assert.equal(qos!.type, 'linux-htb');
      assert.equal(qos!.other_config['max-rate'], String(INGRESS));
      assert.equal(qos!.external_ids['bridgeway-container-id'], 'qa');
      assert.equal(await ovs.vsctl(['get', 'Port', hostVethName('qa', 'eth0'), 'qos']), qos!._uuid);
      assert.equal(await ovs.vsctl(['get', 'Port', hostVethName('qb', 'eth0'), 'qos']), '[]');
      assert.deepEqual((await tableRows(ovs, 'Queue')).map((q) => q.other_config), [{ 'max-rate': String(INGRESS), burst: String(BURST) }]);
      // The kernel: ovs-vswitchd's HTB on A's host veth, the plugin's TBF on A's eth0; B untouched.
      await poll(async () => (await node.exec(['tc', 'qdisc', 'show', 'dev', hostVethName('qa', 'eth0')])).stdout.includes('htb'), { what: 'the HTB qdisc of A\'s port' });
      assert.match((await node.exec(['tc', 'qdisc', 'show', 'dev', 'eth0'], podA)).stdout, /qdisc tbf .* rate 20Mbit burst 125000b/);
      assert.doesNotMatch((await node.exec(['tc', 'qdisc', 'show', 'dev', 'eth0'], podB)).stdout, /tbf/);

      // On the wire.
      const egress = await iperf(node, podA!, podB!, ipB, false);
      const ingress = await iperf(node, podA!, podB!, ipB, true);
      console.log(`# egress ${(egress / 1e6).toFixed(2)} Mbit/s of ${EGRESS / 1e6}, ingress ${(ingress / 1e6).toFixed(2)} Mbit/s of ${INGRESS / 1e6}`);
      assert.ok(within(egress, EGRESS), `A sending: ${egress} bit/s, configured ${EGRESS}`);
      assert.ok(within(ingress, INGRESS), `A receiving: ${ingress} bit/s, configured ${INGRESS}`);

      // CHECK passes; the pod's qdisc removed behind our back, or the QoS rate changed, is named.
      const check = () => node.cni({ command: 'CHECK', containerId: 'qa', netns: podA, ifname: 'eth0', conf: { ...limited, prevResult: addA.json } });
      assert.equal((await check()).exitCode, 0, (await check()).stdout);
      await ovs.vsctl(['set', 'QoS', qos!._uuid, 'other_config:max-rate=1000']);
      let bad = await check();
      assert.equal(bad.json?.code, 101, bad.stdout);
      assert.match(bad.json!.msg, /linux-htb at max-rate 1000, the config wants linux-htb at 40000000/);
      await ovs.vsctl(['set', 'QoS', qos!._uuid, `other_config:max-rate=${INGRESS}`]);
      await node.exec(['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], podA);
      bad = await check();
      assert.equal(bad.json?.code, 101, bad.stdout);
      assert.match(bad.json!.msg, /root qdisc is .*the config limits the pod's egress with a tbf at 20000000/);

      // DEL: the Port goes, and with it (explicitly: root tables) its QoS and Queue rows.
      const del = await node.cni({ command: 'DEL', containerId: 'qa', netns: podA, ifname: 'eth0', conf: limited });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(await tableRows(ovs, 'QoS'), []);
      assert.deepEqual(await tableRows(ovs, 'Queue'), []);
      assert.deepEqual(await ovs.vsctl(['list-ports', BRIDGE]), hostVethName('qb', 'eth0'));
    }));

  test('the bundle on Node (tc in the pod): the same TBF and QoS rows', () =>
    withOvs(async (node, ovs) => {
      const viaNode = path.join(node.dir, 'bridgeway');
      fs.writeFileSync(viaNode, `#!/bin/bash\nexec -a bridgeway ${process.execPath} ${path.resolve(PLUGIN + '.cjs')}\n`, { mode: 0o755 });
      const conf = node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev', runtimeConfig: { bandwidth: { ingressRate: INGRESS, ingressBurst: BURST, egressRate: EGRESS, egressBurst: BURST } } });
      const [pod] = await node.podBatch(1);
      const res = await node.cni({ command: 'ADD', containerId: 'nq', netns: pod, ifname: 'eth0', conf, plugin: viaNode });
      assert.equal(res.exitCode, 0, `${res.stdout} ${res.stderr}`);
      assert.match((await node.exec(['tc', 'qdisc', 'show', 'dev', 'eth0'], pod)).stdout, /qdisc tbf .* rate 20Mbit burst 125000b/);
      assert.equal((await tableRows(ovs, 'QoS'))[0]!.other_config['max-rate'], String(INGRESS));
      const del = await node.cni({ command: 'DEL', containerId: 'nq', netns: pod, ifname: 'eth0', conf, plugin: viaNode });
      assert.equal(del.exitCode, 0, del.stdout);
      assert.deepEqual(await tableRows(ovs, 'QoS'), []);
    }));

  test('bad limits are refused before anything is made; a refused port undoes its QoS rows', () =>
    withOvs(async (node, ovs) => {
      const base = node.conf({ bridgeType: 'ovs', bridge: BRIDGE, ovsdbSocket: ovs.socket, ovsDatapath: 'netdev' });
      const [pod1, pod2] = await node.podBatch(2);
      const bad = await node.cni({ command: 'ADD', containerId: 'b1', netns: pod1, ifname: 'eth0', conf: { ...base, runtimeConfig: { bandwidth: { ingressRate: 1000000 } } } });
      assert.equal(bad.exitCode, 1);
      assert.match(bad.json!.msg, /ingressRate and ingressBurst go together/);
      assert.deepEqual(node.reservedAddresses(), []);
      // A port a frozen ovs-vswitchd never applies: ADD fails, and its rollback takes the QoS rows too.
      await node.cni({ command: 'ADD', containerId: 'b0', netns: pod2, ifname: 'eth0', conf: base }); // makes the bridge
      const limited = { ...base, runtimeConfig: { bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000, egressRate: 1_000_000, egressBurst: 100_000 } } };
      ovs.pauseVswitchd();
      let res;
      try {
        res = await node.cni({ command: 'ADD', containerId: 'b2', netns: pod1, ifname: 'eth0', conf: limited });
      } finally {
        ovs.resumeVswitchd();
      }
      assert.equal(res.exitCode, 1, res.stdout);
      assert.deepEqual(await tableRows(ovs, 'QoS'), [], 'the rollback removed the QoS row');
      assert.deepEqual(await tableRows(ovs, 'Queue'), []);
    }));
});
