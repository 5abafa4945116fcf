// Issue 21: ovs-vswitchd keeps no OpenFlow flow across a restart (the bridge's internal interface,
// its addresses and the ports in the database stay). The agent holds the OpenFlow connection of
// its last sync open, and its end is the moment to put the same-node steering flows back: with a
// resync far away (5 minutes), the flows are back as soon as the new ovs-vswitchd answers, and
// same-node pods connect again through the node, and the pods' anti-spoofing flows are back with
// them. One node of the simulated cluster on OVS.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { skipUnlessAgent } from './harness.ts';
import { eventually, withCluster, type SimNode } from '../support/cluster.ts';
import { ovsMissing } from '../support/ovs.ts';
import { DEFAULT_BRIDGE } from '../../lib/names.ts';

describe('an ovs-vswitchd restart under the agent (simulated cluster, OVS)', { skip: skipUnlessAgent || ovsMissing }, () => {
  test('the steering flows are back without waiting for a resync; same-node pods connect again', { timeout: 120_000 }, () =>
    withCluster(1, async (cluster) => {
      const [n0] = cluster.nodes as [SimNode];
      cluster.startAgent(n0, ['--resync', '5m']);
      await eventually(async () => (await cluster.health(n0, '/readyz')).status === 200, 30_000, 'node-0 ready');
      const a = await cluster.addPod(n0);
      const b = await cluster.addPod(n0);
      await eventually(async () => (await n0.ovs!.ourFlows(DEFAULT_BRIDGE)).length === 5, 10_000, 'the five steering flows once the bridge is there').catch((error: Error) => {
        throw new Error(`${error.message}\n${n0.agentLog.slice(-3000)}`);
      });
      assert.ok(await cluster.tcp(a.netns, b.netns, b.ip), 'same-node TCP before the restart');
      // The pods' anti-spoofing flows (lib/openflow/port-guard.ts, cookie "brwg"): lost with the rest.
      const guardFlows = async () => (await n0.ovs!.ofctl(['dump-flows', DEFAULT_BRIDGE, 'cookie=0x6272776700000000/0xffffffff00000000'])).split('\n').filter((l) => l.includes('cookie=')).length;
      const guarded = await guardFlows();
      assert.ok(guarded > 0, 'the pods are guarded');
      const syncs = await cluster.syncs(n0);

      // SIGKILL: no goodbye, a stale socket file left behind, as a crash leaves it.
      await n0.ovs!.stopVswitchd({ kill: true });
      await n0.ovs!.startVswitchd();
      await eventually(async () => (await n0.ovs!.ourFlows(DEFAULT_BRIDGE)).length === 5, 15_000, 'the steering flows back after the restart').catch((error: Error) => {
        throw new Error(`${error.message}\n${n0.agentLog.slice(-3000)}`);
      });
      await eventually(async () => (await guardFlows()) === guarded, 15_000, 'the pods\' anti-spoofing flows back after the restart');
      assert.equal(await cluster.syncs(n0), syncs, 'put back by the connection\'s end, not by a sync');
      assert.match(n0.agentLog, /lost the OpenFlow connection to the Open vSwitch bridge/);
      assert.ok(await cluster.tcp(a.netns, b.netns, b.ip), 'same-node TCP after the restart');
      assert.ok(await cluster.ping(a.netns, b.ip, 2), 'same-node ping after the restart');

      // A clean stop (SIGTERM: ovs-vswitchd removes its sockets) and start: the same.
      await n0.ovs!.stopVswitchd();
      await n0.ovs!.startVswitchd();
      await eventually(async () => (await n0.ovs!.ourFlows(DEFAULT_BRIDGE)).length === 5, 15_000, 'the steering flows back after a clean restart');
      await eventually(async () => (await guardFlows()) === guarded, 15_000, 'the pods\' anti-spoofing flows back after a clean restart');
      assert.equal(await cluster.syncs(n0), syncs);
      assert.equal((await cluster.health(n0, '/readyz')).status, 200);
    }, { bridge: 'ovs', dualStack: true }));
});
