// Each step of the agent's sync on its own, against the recording fake runner and a temp dir
// standing in for the host (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseCidr, parseIp } from '../../lib/cidr.ts';
import { Metrics } from '../../daemonset/serve/metrics.ts';
import { ConflistSync, type ConflistSettings } from '../../daemonset/conflist/step.ts';
import { IptablesSync } from '../../daemonset/iptables/step.ts';
import { AddressPublisher, readNodeInterface } from '../../daemonset/host/interface-step.ts';
import { HostSettings, PluginInstall } from '../../daemonset/host/setup-step.ts';
import { RouteSync } from '../../daemonset/routes/step.ts';
import { MISMATCH_EVENT_REASON, StatusReport } from '../../daemonset/status/step.ts';
import { ADDR_JSON_DUAL, clusterNode, IP_BATCH, isRouteChange, nodeRunner, recordingLogger, RecordingNodeStatus, tempHost } from '../fixtures/agent-node.ts';
import { ETH1_IPV6_ANNOTATION } from '../../lib/names.ts';

const podCIDRs = [parseCidr('10.244.1.0/24')!];
const clusterCIDRs = [parseCidr('10.244.0.0/16')!];

async function host() {
  const run = nodeRunner();
  return { run, view: await readNodeInterface(run.run, { iface: 'eth1' }) };
}

describe('step: node interface', () => {
  test('one ip process reads addresses and the main table of both families; the read-back is named', async () => {
    const { run, view } = await host();
    assert.deepEqual(run.calls.map((c) => [c.argv.join(' '), c.input]), [[IP_BATCH.join(' '), 'addr show\nroute show table all\n']]);
    assert.equal(view.iface.name, 'eth1');
    assert.equal(view.iface.mtu, 1500);
    assert.deepEqual(view.mainTable.map((r) => r.dst), ['192.168.50.0/24']);
  });

  test('a missing interface is an error that names it and what exists', async () => {
    await assert.rejects(readNodeInterface(nodeRunner().run, { iface: 'eth9' }), /interface eth9 not found \(have: lo, eth1\)/);
  });

  test('the address is published once, and again only when it changes', async () => {
    const { view } = await host();
    const status = new RecordingNodeStatus();
    const publisher = new AddressPublisher({ log: recordingLogger(), nodeName: 'node-0', nodeStatus: status });
    await publisher.publish(view.iface);
    await publisher.publish(view.iface);
    await publisher.publish({ ...view.iface, addresses: { 4: parseIp('192.168.50.11')! } });
    assert.deepEqual(status.calls, [{ call: 'publishEth1Address', ip: '192.168.50.10' }, { call: 'publishEth1Address', ip: '192.168.50.11' }]);
  });
});

describe('step: node interface, dual-stack', () => {
  test('both addresses are read (link-local ignored) and published, IPv6 under its own annotation', async () => {
    const run = nodeRunner({ addr: ADDR_JSON_DUAL });
    const view = await readNodeInterface(run.run, { iface: 'eth1', families: [4, 6] });
    assert.deepEqual(view.iface.addresses, { 4: parseIp('192.168.50.10'), 6: parseIp('fd00:50::10') });
    const status = new RecordingNodeStatus();
    await new AddressPublisher({ log: recordingLogger(), nodeName: 'node-0', nodeStatus: status }).publish(view.iface);
    assert.deepEqual(status.calls, [
      { call: 'publishEth1Address', ip: '192.168.50.10' },
      { call: 'publishEth1Address', ip: 'fd00:50::10', annotation: ETH1_IPV6_ANNOTATION },
    ]);
    await assert.rejects(readNodeInterface(nodeRunner().run, { iface: 'eth1', families: [4, 6] }), /interface eth1 has no global IPv6 address/);
  });
});

describe('step: node setup', () => {
  test('ip_forward is turned on, host findings are logged once per change', () => {
    const h = tempHost();
    try {
      fs.writeFileSync(path.join(h.procSys, 'net/bridge/bridge-nf-call-iptables'), '0\n');
      const log = recordingLogger();
      const settings = new HostSettings({ log, bridge: 'cni0', procSys: h.procSys });
      assert.equal(settings.ensure('eth1').ipForwardEnabled, true);
      assert.equal(fs.readFileSync(path.join(h.procSys, 'net/ipv4/ip_forward'), 'utf8'), '1');
      const again = settings.ensure('eth1');
      assert.equal(again.ipForwardEnabled, false);
      assert.deepEqual(again.findings.map((f) => f.setting), ['net.bridge.bridge-nf-call-iptables']);
      assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1, 'the finding is logged once');
    } finally {
      h.cleanup();
    }
  });

  test('the plugin is installed once, and again when someone removes it', () => {
    const h = tempHost();
    try {
      const install = new PluginInstall({ log: recordingLogger(), pluginBinary: h.plugin, cniBinDir: h.binDir });
      assert.equal(install.ensure(), 'written');
      assert.equal(install.ensure(), 'unchanged');
      fs.rmSync(path.join(h.binDir, 'bridgeway'));
      assert.equal(install.ensure(), 'written');
      assert.equal((fs.statSync(path.join(h.binDir, 'bridgeway')).mode & 0o777), 0o755);
    } finally {
      h.cleanup();
    }
  });
});

describe('step: routes', () => {
  test('plans from the node list, applies only the diff in one batch, returns named counts', async () => {
    const { run, view } = await host();
    const metrics = new Metrics();
    const routes = new RouteSync({ run: run.run, log: recordingLogger(), metrics, nodeName: 'node-0' });
    const nodes = [clusterNode('node-0', 0), clusterNode('node-1', 1), clusterNode('node-2', 2, { podCIDRs: [] })];
    const outcome = await routes.sync({ nodes, iface: view.iface, podCIDRs, mainTable: view.mainTable });
    assert.deepEqual(outcome, { peers: 1, programmed: 1, changes: 1, unreachable: [{ peer: 'node-2', reason: 'no podCIDR yet' }], conflicts: [], families: { 4: { programmed: 1, missing: 1 } } });
    const changes = run.callsMatching(isRouteChange);
    assert.equal(changes.length, 1);
    assert.match(changes[0]!.input!, /^route \S+ 10\.244\.2\.0\/24 via 192\.168\.50\.11 dev eth1 proto 77/m);
    assert.match(metrics.render(), /^bridgeway_peers_unreachable 1$/m);
  });

  test('the early step applies an event\'s change against the table the last sync left, and never throws', async () => {
    const { run, view } = await host();
    const routes = new RouteSync({ run: run.run, log: recordingLogger(), metrics: new Metrics(), nodeName: 'node-0' });
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

describe('step: iptables', () => {
  test('writes our chains with --noflush when they differ, then leaves them alone', async () => {
    const run = nodeRunner();
    const metrics = new Metrics();
    const iptables = new IptablesSync({ run: run.run, log: recordingLogger(), metrics, clusterCIDRs, forced: 'nft' });
    assert.deepEqual(await iptables.sync(podCIDRs), { written: { 4: true }, mode: 'nft' });
    assert.deepEqual(await iptables.sync(podCIDRs), { written: { 4: false }, mode: 'nft' });
    const restores = run.callsMatching(['iptables-nft-restore']);
    assert.deepEqual(restores.map((c) => c.argv), [['iptables-nft-restore', '--noflush', '-w', '5']]);
    assert.match(restores[0]!.input!, /-j MASQUERADE --random-fully/);
    assert.doesNotMatch(restores[0]!.input!, /^:(FORWARD|POSTROUTING) /m, 'never declares a built-in chain');
    assert.equal(run.callsMatching(['iptables-nft', '-j', 'MASQUERADE', '--help']).length, 1, 'probed once');
    assert.match(metrics.render(), /^bridgeway_iptables_restores_total 1$/m);
  });
});

describe('step: routes and iptables, dual-stack', () => {
  const dual = [parseCidr('10.244.1.0/24')!, parseCidr('fd00:10:244:1::/64')!];
  const v6Node = (name: string, index: number) => clusterNode(name, index, {
    podCIDRs: [`10.244.${index + 1}.0/24`, `fd00:10:244:${index + 1}::/64`],
    annotations: { 'bridgeway.io/eth1-ip': `192.168.50.${10 + index}`, [ETH1_IPV6_ANNOTATION]: `fd00:50::${10 + index}` },
  });
  test('IPv6 routes in the same batch as IPv4; a peer without IPv6 is routed for IPv4 and counted as missing', async () => {
    const run = nodeRunner({ addr: ADDR_JSON_DUAL });
    const view = await readNodeInterface(run.run, { iface: 'eth1', families: [4, 6] });
    const metrics = new Metrics();
    const routes = new RouteSync({ run: run.run, log: recordingLogger(), metrics, nodeName: 'node-0' });
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
    const view = await readNodeInterface(run.run, { iface: 'eth1', families: [4, 6] });
    const routes = new RouteSync({ run: run.run, log: recordingLogger(), metrics: new Metrics(), nodeName: 'node-0' });
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

  test('ip6tables gets the IPv6 chains, in the backend chosen for IPv4; each family rewritten only when it differs', async () => {
    const run = nodeRunner();
    const metrics = new Metrics();
    const iptables = new IptablesSync({ run: run.run, log: recordingLogger(), metrics, clusterCIDRs: [parseCidr('10.244.0.0/16')!, parseCidr('fd00:10:244::/56')!], forced: 'nft' });
    assert.deepEqual(await iptables.sync(dual), { written: { 4: true, 6: true }, mode: 'nft' });
    assert.deepEqual(await iptables.sync(dual), { written: { 4: false, 6: false }, mode: 'nft' });
    const restores6 = run.callsMatching(['ip6tables-nft-restore']);
    assert.equal(restores6.length, 1);
    assert.match(restores6[0]!.input!, /-A BRIDGEWAY-POSTRTG -s fd00:10:244::\/56 ! -d ff00::\/8 .* -j MASQUERADE --random-fully/);
    assert.doesNotMatch(run.callsMatching(['iptables-nft-restore'])[0]!.input!, /fd00/);
    assert.match(metrics.render(), /^bridgeway_family_iptables_restores_total\{family="ipv6"\} 1$/m);
  });
});

describe('step: conflist', () => {
  const settings = (h: ReturnType<typeof tempHost>, extra: Partial<ConflistSettings> = {}): ConflistSettings => ({
    standalone: false, cniConfDir: h.confDir, cniBinDir: h.binDir, bridge: 'cni0', dataDir: '/var/lib/cni/bridgeway', cniLogFile: '/var/log/bridgeway/cni.log', logLevel: 'info', ...extra,
  });
  const written = (h: ReturnType<typeof tempHost>) => JSON.parse(fs.readFileSync(h.conflist, 'utf8'));

  test('Kubernetes mode: the Node\'s runtime chooses; an upgrade rewrites it; the choice is logged once and is a metric label', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      const log = recordingLogger();
      const metrics = new Metrics();
      const conflist = new ConflistSync({ run: nodeRunner().run, log, metrics, settings: settings(h) });
      const first = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' });
      assert.deepEqual([first.choice.version, first.choice.source, first.written, first.mismatch], ['1.0.0', 'runtime', true, undefined]);
      assert.equal(written(h).cniVersion, '1.0.0');
      assert.equal((await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' })).written, false);
      const upgraded = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.0.1' });
      assert.deepEqual([upgraded.choice.version, upgraded.written], ['1.1.0', true]);
      assert.equal(written(h).cniVersion, '1.1.0');
      const choices = log.lines.filter((l) => l.msg.startsWith('conflist cniVersion'));
      assert.deepEqual(choices.map((l) => l.msg), [
        'conflist cniVersion 1.0.0: containerd://1.6.20 speaks CNI up to 1.0.0',
        'conflist cniVersion 1.1.0: containerd://2.0.1 speaks CNI up to 1.1.0',
      ]);
      assert.match(metrics.render(), /^bridgeway_conflist_info\{cni_version="1\.1\.0",source="runtime"\} 1$/m);
      assert.doesNotMatch(metrics.render(), /cni_version="1\.0\.0"/, 'the old label is gone');
      assert.match(metrics.render(), /^bridgeway_conflist_runtime_mismatch 0$/m);
    } finally {
      h.cleanup();
    }
  });

  test('standalone: 1.0.0 unless --cni-version says otherwise, whatever a node file might claim', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      const plain = new ConflistSync({ run: nodeRunner().run, log: recordingLogger(), metrics: new Metrics(), settings: settings(h, { standalone: true }) });
      const choice = (await plain.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.1.0' })).choice;
      assert.deepEqual([choice.version, choice.source], ['1.0.0', 'default']);
      const explicit = new ConflistSync({ run: nodeRunner().run, log: recordingLogger(), metrics: new Metrics(), settings: settings(h, { standalone: true, explicit: '1.1.0' }) });
      assert.equal((await explicit.sync({ podCIDRs, iface: view.iface })).choice.version, '1.1.0');
      assert.equal(written(h).cniVersion, '1.1.0');
    } finally {
      h.cleanup();
    }
  });

  test('an explicit version the runtime provably cannot speak: written as asked, and reported as a mismatch', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      const log = recordingLogger();
      const metrics = new Metrics();
      const conflist = new ConflistSync({ run: nodeRunner().run, log, metrics, settings: settings(h, { explicit: '1.1.0' }) });
      const outcome = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' });
      assert.equal(outcome.choice.source, 'flag');
      assert.match(outcome.mismatch!, /cniVersion 1\.1\.0 .* is newer than containerd:\/\/1\.6\.20 speaks \(up to 1\.0\.0\)/);
      assert.equal(written(h).cniVersion, '1.1.0');
      assert.match(metrics.render(), /^bridgeway_conflist_runtime_mismatch 1$/m);
      await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.6.20' });
      assert.equal(log.lines.filter((l) => l.level === 'error').length, 1, 'logged once per change');
      const fixed = await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.0.0' });
      assert.equal(fixed.mismatch, undefined);
      assert.match(metrics.render(), /^bridgeway_conflist_runtime_mismatch 0$/m);
    } finally {
      h.cleanup();
    }
  });

  test('portmap is asked VERSION once and chained only for a version it speaks (the chosen one)', async () => {
    const h = tempHost();
    try {
      const { view } = await host();
      fs.mkdirSync(h.binDir, { recursive: true });
      fs.writeFileSync(path.join(h.binDir, 'portmap'), '');
      const portmap = path.join(h.binDir, 'portmap');
      const run = nodeRunner().on([portmap], { stdout: JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] }) });
      const log = recordingLogger();
      const conflist = new ConflistSync({ run: run.run, log, metrics: new Metrics(), settings: settings(h) });
      assert.equal((await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://1.7.22' })).portmap, true);
      assert.deepEqual(written(h).plugins.map((p: { type: string }) => p.type), ['bridgeway', 'portmap']);
      assert.equal((await conflist.sync({ podCIDRs, iface: view.iface, runtimeVersion: 'containerd://2.0.1' })).portmap, false);
      assert.deepEqual(written(h).plugins.map((p: { type: string }) => p.type), ['bridgeway']);
      const asked = run.callsMatching([portmap]);
      assert.deepEqual(asked.map((c) => [c.env, c.input]), [[{ CNI_COMMAND: 'VERSION' }, '{}']]);
      assert.equal(log.lines.filter((l) => l.msg.startsWith('portmap does not support CNI 1.1.0')).length, 1);
    } finally {
      h.cleanup();
    }
  });
});

describe('step: status', () => {
  test('NetworkUnavailable once per change; a mismatch is a Warning event (once) and sets it True; a failed write is retried', async () => {
    const status = new RecordingNodeStatus();
    const report = new StatusReport({ nodeName: 'node-0', nodeStatus: status });
    await report.report({});
    await report.report({});
    assert.deepEqual(status.calls, [{ call: 'setNetworkUnavailable', unavailable: false, message: 'bridgeway routes and rules are in place' }]);
    status.failing = 'recordNodeEvent';
    await assert.rejects(report.report({ mismatch: 'cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' }), /injected/);
    status.failing = undefined;
    assert.deepEqual(await report.report({ mismatch: 'cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' }), {
      networkUnavailable: true, message: 'bridgeway: cniVersion 1.1.0 is newer than containerd://1.6.20 speaks',
    });
    await report.report({ mismatch: 'cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' });
    await report.report({});
    assert.deepEqual(status.calls.slice(1), [
      { call: 'recordNodeEvent', type: 'Warning', reason: MISMATCH_EVENT_REASON, message: 'cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' },
      { call: 'setNetworkUnavailable', unavailable: true, message: 'bridgeway: cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' },
      { call: 'setNetworkUnavailable', unavailable: false, message: 'bridgeway routes and rules are in place' },
    ]);
  });

  test('standalone (no API): nothing to write', async () => {
    assert.equal((await new StatusReport({ nodeName: 'n' }).report({ mismatch: 'x' })).networkUnavailable, true);
  });
});
