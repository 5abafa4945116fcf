// Issue 21 part 2: --ovs-sflow and --ovs-netflow. The real agent (--once, standalone) on a
// simulated node whose OVS (test/support/ovs.ts: its own ovsdb-server and ovs-vswitchd, userspace
// datapath) holds the bridge: the rows appear with the flags and go without them, an admin's row
// is left alone (and the flag refused), and a UDP listener on the node's loopback receives
// ovs-vswitchd's NetFlow v5 datagrams for traffic through the bridge.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ovsMissing, ovsValue, TestOvs } from '../support/ovs.ts';
import { poll } from '../support/poll.ts';
import { withCluster } from '../support/cluster.ts';
import { skipUnlessAgent } from './harness.ts';

const skip = skipUnlessAgent || ovsMissing;
const BRIDGE = 'brovs0';

describe('Open vSwitch flow export (agent --ovs-sflow, --ovs-netflow)', { skip }, () => {
  test('rows made with the flags, removed without them, an admin\'s left alone; NetFlow datagrams reach the collector', () =>
    withCluster(1, async (cluster) => {
      const node = cluster.nodes[0]!;
      const ovs = await TestOvs.start(cluster.lab, node.netns);
      try {
        await ovs.vsctl(['add-br', BRIDGE, '--', 'set', 'Bridge', BRIDGE, 'datapath_type=netdev', '--', 'set', 'Open_vSwitch', '.', 'other_config:max-idle=500']);
        const once = (flags: string[]): Promise<any> => cluster.runAgentOnce(node, ['--bridge', BRIDGE, '--ovsdb-socket', ovs.socket, '--network-policy', 'false', ...flags]).catch((error: any) => error);
        const rows = async (table: string): Promise<Record<string, any>[]> => (await ovs.rows(['list', table])).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, ovsValue(v)])));

        // A collector on the node's loopback (ovs-vswitchd runs in the node's namespace).
        const listener = spawn('nsenter', [`--net=${node.path}`, '--', process.execPath, '-e',
          "const s=require('dgram').createSocket('udp4');s.on('message',(m)=>process.stdout.write('v'+m.readUInt16BE(0)+' '));s.bind(2055,'127.0.0.1',()=>process.stderr.write('ready'))"], { stdio: ['ignore', 'pipe', 'pipe'] });
        cluster.lab.track(listener);
        let datagrams = '';
        listener.stdout!.on('data', (d) => (datagrams += d));
        await new Promise((resolve) => listener.stderr!.once('data', resolve));

        const first = await once(['--ovs-sflow', '127.0.0.1:6343', '--ovs-netflow', '127.0.0.1:2055']);
        assert.ok(!(first instanceof Error), String((first as { stderr?: string })?.stderr ?? first));
        const [sflow] = await rows('sFlow');
        const [netflow] = await rows('NetFlow');
        assert.deepEqual(sflow!.targets, '127.0.0.1:6343');
        assert.deepEqual(netflow!.targets, '127.0.0.1:2055');
        assert.equal(sflow!.external_ids['bridgeway-agent'], 'flow-export');
        assert.equal(await ovs.vsctl(['get', 'Bridge', BRIDGE, 'sflow']), sflow!._uuid);
        assert.equal(await ovs.vsctl(['get', 'Bridge', BRIDGE, 'netflow']), netflow!._uuid);

        // IPv4 through the bridge (the node's ping of an address behind it), its flows expired
        // after 500 ms idle: NetFlow version 5 at the collector.
        await node.exec(['ip', 'addr', 'add', '10.250.0.1/24', 'dev', BRIDGE]);
        await node.exec(['ip', 'link', 'set', BRIDGE, 'up']);
        await node.exec(['ip', 'neigh', 'replace', '10.250.0.2', 'lladdr', '02:00:0a:fa:00:02', 'dev', BRIDGE]); // IPv4 (NetFlow v5 records only IPv4), not ARP
        await node.exec(['ping', '-c', '3', '-i', '0.2', '-W', '1', '10.250.0.2']).catch(() => undefined);
        await poll(() => datagrams.includes('v5 '), { what: `a NetFlow v5 datagram at 127.0.0.1:2055 (${datagrams})`, timeoutMs: 20_000 });
        listener.kill('SIGKILL');

        // The same flags again: nothing changes (same rows).
        assert.ok(!((await once(['--ovs-sflow', '127.0.0.1:6343', '--ovs-netflow', '127.0.0.1:2055'])) instanceof Error));
        assert.equal((await rows('sFlow'))[0]!._uuid, sflow!._uuid);

        // Without the flags: both removed from the bridge and the database.
        assert.ok(!((await once([])) instanceof Error));
        assert.deepEqual(await rows('sFlow'), []);
        assert.deepEqual(await rows('NetFlow'), []);
        assert.equal(await ovs.vsctl(['get', 'Bridge', BRIDGE, 'sflow']), '[]');

        // An admin's sFlow: left alone without the flag, and the flag refused (the agent says why).
        await ovs.vsctl(['--id=@s', 'create', 'sFlow', 'targets="127.0.0.1:9999"', '--', 'set', 'Bridge', BRIDGE, 'sflow=@s']);
        assert.ok(!((await once([])) instanceof Error));
        assert.equal((await rows('sFlow')).length, 1);
        const refused = await once(['--ovs-sflow', '127.0.0.1:6343']);
        assert.ok(refused instanceof Error, 'the agent reports the refusal');
        const failure = refused as Error & { stdout: string; stderr: string };
        assert.match(`${failure.stdout}${failure.stderr}`, /sFlow configuration bridgeway did not make \(targets 127\.0\.0\.1:9999\)/);
        assert.deepEqual((await rows('sFlow'))[0]!.targets, '127.0.0.1:9999');
      } finally {
        await ovs.stop();
      }
    }));
});
