// routes/step.ts: the routes step of the agent's sync on its own, against the recording fake
// runner standing in for the host (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCidr } from '../../../../lib/cidr.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { readNodeInterface } from '../../../../daemonset/host/interface-step.ts';
import { RouteSync } from '../../../../daemonset/routes/step.ts';
import { ADDR_JSON_DUAL, clusterNode, isRouteChange, nodeRunner, recordingLogger } from '../../../fixtures/agent-node.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
import { ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';
import { iproute2Network } from '../../../../daemonset/host/network.ts';

const podCIDRs = [parseCidr('10.244.1.0/24')!];

async function host() {
  const run = nodeRunner();
  return { run, view: await readNodeInterface(iproute2Network(run.run), { iface: 'eth1' }) };
}

describe('step: routes', () => {
  test('plans from the node list, applies only the diff in one batch, returns named counts', async () => {
    const { run, view } = await host();
    const metrics = new Metrics();
    const routes = new RouteSync({ network: iproute2Network(run.run), log: recordingLogger(), metrics, nodeName: 'node-0' });
    const nodes = [clusterNode('node-0', 0), clusterNode('node-1', 1), clusterNode('node-2', 2, { podCIDRs: [] })];
    const outcome = await routes.sync({ nodes, iface: view.iface, podCIDRs, mainTable: view.mainTable });
    assert.deepEqual(outcome, { peers: 1, programmed: 1, changes: 1, unreachable: [{ peer: 'node-2', reason: 'no podCIDR yet', pending: true }], conflicts: [], families: { 4: { programmed: 1, missing: 1 } } });
    const changes = run.callsMatching(isRouteChange);
    assert.equal(changes.length, 1);
    assert.match(changes[0]!.input!, /^route \S+ 10\.244\.2\.0\/24 via 192\.168\.50\.11 dev eth1 proto 77/m);
    assert.match(metrics.render(), /^bridgeway_peers_unreachable 1$/m);
  });

  test('the early step applies an event\'s change against the table the last sync left, and never throws', async () => {
    const { run, view } = await host();
    const routes = new RouteSync({ network: iproute2Network(run.run), log: recordingLogger(), metrics: new Metrics(), nodeName: 'node-0' });
    const before = [clusterNode('node-0', 0), clusterNode('node-1', 1)];
    assert.deepEqual(await routes.applyAhead(before, podCIDRs), { changes: 0 }, 'nothing known yet');
    await routes.sync({ nodes: before, iface: view.iface, podCIDRs, mainTable: view.mainTable });
    const after = [...before, clusterNode('node-3', 3)];
    run.failNth(isRouteChange, 1, { stderr: 'RTNETLINK answers: Network is unreachable\nCommand failed -:1\n' });
    assert.deepEqual(await routes.applyAhead(after, podCIDRs), { changes: 0 }, 'a failure is left to the full sync');
    assert.deepEqual(await routes.applyAhead([...after], podCIDRs), { changes: 1 });
    assert.match(run.callsMatching(isRouteChange).at(-1)!.input!, /^route add 10\.244\.4\.0\/24 via 192\.168\.50\.13/m);
  });
});

describe('step: routes, "peer not routed" while a peer joins', () => {
  async function setup() {
    const { run, view } = await host();
    const clock = new FakeClock();
    const log = recordingLogger();
    const routes = new RouteSync({ network: iproute2Network(run.run), log, metrics: new Metrics(), nodeName: 'node-0', clock });
    const sync = (nodes: ReturnType<typeof clusterNode>[]) => routes.sync({ nodes, iface: view.iface, podCIDRs, mainTable: view.mainTable });
    const said = () => log.lines.filter((l) => l.msg.startsWith('peer not routed')).map((l) => `${l.level} ${l.msg}`);
    return { clock, log, sync, said };
  }
  // A fresh install: node-1 is registered (its InternalIP is on eth0's network) but its agent has
  // not published bridgeway.io/eth1-ip yet.
  const joining = clusterNode('node-1', 1, { annotations: {}, internalIPs: ['10.0.0.11'] });

  test('info for 2 minutes after the peer first appears, then one warning, then quiet', async () => {
    const s = await setup();
    await s.sync([clusterNode('node-0', 0), joining]);
    assert.deepEqual(s.said(), ['info peer not routed yet: 10.0.0.11 (from its InternalIP) is not on eth1\'s subnet 192.168.50.10/24: all nodes must share one L2 segment (expected while it joins; a warning if it lasts 2m)']);
    await s.clock.advance(119_999);
    await s.sync([clusterNode('node-0', 0), joining]);
    assert.equal(s.said().length, 1, 'still within the grace: nothing new');
    await s.clock.advance(1);
    await s.sync([clusterNode('node-0', 0), joining]);
    assert.deepEqual(s.said().slice(1), ['warn peer not routed: 10.0.0.11 (from its InternalIP) is not on eth1\'s subnet 192.168.50.10/24: all nodes must share one L2 segment']);
    await s.sync([clusterNode('node-0', 0), joining]);
    assert.equal(s.said().length, 2, 'once per change');
  });

  test('the peer publishes within the grace: no warning at all', async () => {
    const s = await setup();
    await s.sync([clusterNode('node-0', 0), clusterNode('node-1', 1, { podCIDRs: [] })]);
    await s.clock.advance(30_000);
    await s.sync([clusterNode('node-0', 0), clusterNode('node-1', 1)]);
    await s.clock.advance(600_000);
    await s.sync([clusterNode('node-0', 0), clusterNode('node-1', 1)]);
    assert.deepEqual(s.said(), ['info peer not routed yet: no podCIDR yet (expected while it joins; a warning if it lasts 2m)']);
    assert.equal(s.log.lines.filter((l) => l.level === 'warn').length, 0);
  });

  test('a wrong value warns at once; a peer long known that loses its address warns at once; a peer that comes back starts a new grace', async () => {
    const s = await setup();
    await s.sync([clusterNode('node-0', 0), clusterNode('node-1', 1, { annotations: { 'bridgeway.io/eth1-ip': '172.30.0.5' } })]);
    assert.deepEqual(s.said(), ['warn peer not routed: 172.30.0.5 (from its annotation) is not on eth1\'s subnet 192.168.50.10/24: all nodes must share one L2 segment']);
    await s.sync([clusterNode('node-0', 0), clusterNode('node-1', 1)]);
    await s.clock.advance(300_000);
    await s.sync([clusterNode('node-0', 0), joining]);
    assert.match(s.said().at(-1)!, /^warn peer not routed: 10\.0\.0\.11 \(from its InternalIP\)/);
    await s.sync([clusterNode('node-0', 0)]);
    await s.sync([clusterNode('node-0', 0), joining]);
    assert.match(s.said().at(-1)!, /^info peer not routed yet: 10\.0\.0\.11/, 'deleted and registered again: joining again');
  });
});

describe('step: routes, dual-stack', () => {
  const dual = [parseCidr('10.244.1.0/24')!, parseCidr('fd00:10:244:1::/64')!];
  const v6Node = (name: string, index: number) => clusterNode(name, index, {
    podCIDRs: [`10.244.${index + 1}.0/24`, `fd00:10:244:${index + 1}::/64`],
    annotations: { 'bridgeway.io/eth1-ip': `192.168.50.${10 + index}`, [ETH1_IPV6_ANNOTATION]: `fd00:50::${10 + index}` },
  });
  test('IPv6 routes in the same batch as IPv4; a peer without IPv6 is routed for IPv4 and counted as missing', async () => {
    const run = nodeRunner({ addr: ADDR_JSON_DUAL });
    const view = await readNodeInterface(iproute2Network(run.run), { iface: 'eth1', families: [4, 6] });
    const metrics = new Metrics();
    const routes = new RouteSync({ network: iproute2Network(run.run), log: recordingLogger(), metrics, nodeName: 'node-0' });
    const nodes = [v6Node('node-0', 0), v6Node('node-1', 1), clusterNode('node-2', 2)];
    const outcome = await routes.sync({ nodes, iface: view.iface, podCIDRs: dual, mainTable: view.mainTable });
    assert.deepEqual(outcome.families, { 4: { programmed: 2, missing: 0 }, 6: { programmed: 1, missing: 1 } });
    assert.deepEqual(outcome.unreachable, [{ peer: 'node-2', reason: 'no IPv6 podCIDR in 10.244.3.0/24' }]);
    const changes = run.callsMatching(isRouteChange);
    assert.equal(changes.length, 1, 'one batch for both families');
    assert.match(changes[0]!.input!, /^route add fd00:10:244:2::\/64 via fd00:50::11 dev eth1 proto 77$/m);
    assert.match(changes[0]!.input!, /^route add 10\.244\.3\.0\/24 via 192\.168\.50\.12 dev eth1 proto 77$/m);
    assert.match(metrics.render(), /^bridgeway_family_peers_not_routed\{family="ipv6"\} 1$/m);
    assert.match(metrics.render(), /^bridgeway_family_routes_programmed\{family="ipv6"\} 1$/m);
  });

  test('the early step puts a new node\'s routes of both families in the kernel before the full read', async () => {
    const run = nodeRunner({ addr: ADDR_JSON_DUAL });
    const view = await readNodeInterface(iproute2Network(run.run), { iface: 'eth1', families: [4, 6] });
    const routes = new RouteSync({ network: iproute2Network(run.run), log: recordingLogger(), metrics: new Metrics(), nodeName: 'node-0' });
    const before = [v6Node('node-0', 0), v6Node('node-1', 1)];
    await routes.sync({ nodes: before, iface: view.iface, podCIDRs: dual, mainTable: view.mainTable });
    assert.deepEqual(await routes.applyAhead([...before, v6Node('node-3', 3)], dual), { changes: 2 });
    const batch = run.callsMatching(isRouteChange).at(-1)!.input!;
    assert.match(batch, /^route add 10\.244\.4\.0\/24 via 192\.168\.50\.13 dev eth1 proto 77$/m);
    assert.match(batch, /^route add fd00:10:244:4::\/64 via fd00:50::13 dev eth1 proto 77$/m);
    assert.deepEqual(await routes.applyAhead([before[0]!], dual), { changes: 2 }, 'node-1 removed: its routes of both families go');
    const removal = run.callsMatching(isRouteChange).at(-1)!.input!;
    assert.match(removal, /^route del 10\.244\.2\.0\/24 proto 77$/m);
    assert.match(removal, /^route del fd00:10:244:2::\/64 proto 77$/m);
  });
});

