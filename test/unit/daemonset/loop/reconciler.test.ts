// The reconciler as the list of steps: their order, what a failing step leaves in place, what
// /readyz says, the retry with backoff, and when the agent says it is waiting.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { Reconciler } from '../../../../daemonset/loop/reconciler.ts';
import { SyncScheduler } from '../../../../daemonset/loop/scheduler.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
import type { NodePolicy } from '../../../../daemonset/policy/enforcer.ts';
import { iproute2Network } from '../../../../daemonset/host/network.ts';
import {
  agentConfig, clusterNode, FakeSource, isHostQuery, isRouteChange, nodeRunner, recordingLogger, RecordingNodeStatus, tempHost,
} from '../../../fixtures/agent-node.ts';

const RUNTIME_1_6 = 'containerd://1.6.20';

function setup(options: { extra?: string[]; runtime?: string; betweenPhases?: () => void; policy?: NodePolicy } = {}) {
  const host = tempHost();
  const run = nodeRunner();
  const log = recordingLogger();
  const metrics = new Metrics();
  const status = new RecordingNodeStatus();
  const source = new FakeSource([clusterNode('node-0', 0, { containerRuntimeVersion: options.runtime ?? RUNTIME_1_6 }), clusterNode('node-1', 1)]);
  const config = agentConfig(host, options.extra);
  const reconciler = new Reconciler({ run: run.run, network: iproute2Network(run.run), log, metrics, config, source, nodeStatus: status, procSys: host.procSys, betweenPhases: options.betweenPhases, policy: options.policy });
  return { host, run, log, metrics, status, source, reconciler };
}

type Setup = ReturnType<typeof setup>;

async function withSetup(fn: (s: Setup) => Promise<void>, options?: Parameters<typeof setup>[0]) {
  const s = setup(options);
  try {
    await fn(s);
  } finally {
    s.host.cleanup();
  }
}

/** The order of the kernel and API calls one sync made, as short names. */
function sequence(s: Setup): string[] {
  return s.run.calls.map((c) => {
    if (isHostQuery(c.argv, c)) return 'read';
    if (isRouteChange(c.argv, c)) return 'routes';
    if (c.argv[0] === 'iptables-nft-restore') return 'iptables-restore';
    return c.argv.join(' ').split(' -')[0]!;
  });
}

describe('reconciler', () => {
  test('one sync runs the steps in order, ends ready, and writes the status last', () =>
    withSetup(async (s) => {
      await s.reconciler.sync();
      assert.deepEqual(sequence(s), ['read', 'routes', 'iptables-nft', 'iptables-nft-save', 'iptables-restore']);
      assert.ok(fs.existsSync(path.join(s.host.binDir, 'bridgeway')), 'installed');
      assert.equal(JSON.parse(fs.readFileSync(s.host.conflist, 'utf8')).cniVersion, '1.0.0');
      assert.deepEqual(s.status.calls.map((c) => c.call), ['publishEth1Address', 'setNetworkUnavailable']);
      assert.equal(s.reconciler.notReadyReason(), undefined);
      assert.deepEqual(s.reconciler.readyDetail(), ['conflist cniVersion 1.0.0 (runtime: containerd://1.6.20 speaks CNI up to 1.0.0)']);
      assert.match(s.metrics.render(), /^bridgeway_ready 1$/m);
    }));

  test('betweenPhases (where the agent collects garbage) runs once per sync, after the kernel read and before the routes', async () => {
    const calls: string[][] = [];
    let s: Setup | undefined;
    await withSetup(async (setupDone) => {
      s = setupDone;
      await s.reconciler.sync();
      await s.reconciler.sync();
    }, { betweenPhases: () => calls.push(sequence(s!)) });
    // The first sync read the kernel, then programmed it; the second read it again (nothing to change).
    assert.deepEqual(calls, [['read'], ['read', 'routes', 'iptables-nft', 'iptables-nft-save', 'iptables-restore', 'read']]);
  });

  test('br_netfilter turned off after a sync: /readyz detail and the metric say so at once, readiness stays', () =>
    withSetup(async (s) => {
      await s.reconciler.sync();
      fs.writeFileSync(path.join(s.host.procSys, 'net/bridge/bridge-nf-call-iptables'), '0\n');
      assert.equal(s.reconciler.notReadyReason(), undefined, 'routes, rules and the conflist are still in place');
      assert.match(s.reconciler.readyDetail().at(-1)!, /^node prerequisite net\.bridge\.bridge-nf-call-iptables: 0: .* fix: sysctl -w net\.bridge\.bridge-nf-call-iptables=1/);
      assert.match(s.metrics.render(), /^bridgeway_node_sysctl_ok\{sysctl="net\.bridge\.bridge-nf-call-iptables"\} 0$/m);
    }));

  test('NetworkPolicy\'s table not loaded yet: the first conflist waits (NetworkUnavailable True), /readyz says why; loaded: written, ready', async () => {
    let notLoaded: string | undefined = 'the policy table is not loaded yet';
    const policy: NodePolicy = {
      sync: async () => 'none',
      notLoaded: () => notLoaded,
      detail: () => (notLoaded ? [`NetworkPolicy enforcement not ready: ${notLoaded}`] : ['NetworkPolicy enforced: 0 policies']),
    };
    await withSetup(async (s) => {
      await s.reconciler.sync();
      assert.equal(fs.existsSync(s.host.conflist), false, 'no pod may start before the node\'s policies are enforced');
      assert.equal(s.reconciler.notReadyReason(), 'no conflist yet: it waits for the NetworkPolicy table (the policy table is not loaded yet)');
      assert.match(s.metrics.render(), /^bridgeway_ready 0$/m);
      assert.deepEqual(s.status.calls.filter((c) => c.call === 'setNetworkUnavailable').map((c) => c.unavailable), [true]);
      assert.ok(s.log.lines.some((l) => /the conflist waits for NetworkPolicy/.test(l.msg)), JSON.stringify(s.log.lines));
      notLoaded = undefined;
      assert.equal(s.reconciler.notReadyReason(), 'no conflist yet: it waits for the NetworkPolicy table (the policy table is not loaded yet)', 'until the sync that writes it');
      await s.reconciler.sync();
      assert.equal(JSON.parse(fs.readFileSync(s.host.conflist, 'utf8')).cniVersion, '1.0.0');
      assert.equal(s.reconciler.notReadyReason(), undefined);
      assert.deepEqual(s.status.calls.filter((c) => c.call === 'setNetworkUnavailable').map((c) => c.unavailable), [true, false]);
      assert.equal(s.reconciler.readyDetail().at(-1), 'NetworkPolicy enforced: 0 policies');
      // A conflist in place (an agent restart: the kernel kept its table) is never held back;
      // /readyz still waits for the table, bridgeway_ready does not.
      notLoaded = 'the first list of pods, namespaces and networkpolicies has not arrived';
      await s.reconciler.sync();
      assert.equal(s.reconciler.syncNotReadyReason(), undefined);
      assert.equal(s.reconciler.notReadyReason(), 'NetworkPolicy enforcement not ready: the first list of pods, namespaces and networkpolicies has not arrived');
      assert.match(s.metrics.render(), /^bridgeway_ready 1$/m);
    }, { policy });
  });

  test('--once writes the conflist without waiting for a policy table it never loads', () =>
    withSetup(async (s) => {
      await s.reconciler.sync();
      assert.ok(fs.existsSync(s.host.conflist));
      assert.equal(s.reconciler.syncNotReadyReason(), undefined);
    }, { extra: ['--once'], policy: { sync: async () => 'none', notLoaded: () => 'the policy table is not loaded yet', detail: () => [] } }));

  test('a runtime upgrade on the Node rewrites the conflist at the next sync', () =>
    withSetup(async (s) => {
      await s.reconciler.sync();
      s.source.list = [clusterNode('node-0', 0, { containerRuntimeVersion: 'containerd://2.0.1' }), clusterNode('node-1', 1)];
      await s.reconciler.sync();
      assert.equal(JSON.parse(fs.readFileSync(s.host.conflist, 'utf8')).cniVersion, '1.1.0');
      assert.match(s.metrics.render(), /^bridgeway_conflist_info\{cni_version="1\.1\.0",source="runtime"\} 1$/m);
    }));

  test('--cni-version 1.1.0 on containerd 1.6: not ready with the reason, NetworkUnavailable True, one Warning event, a metric', () =>
    withSetup(async (s) => {
      await s.reconciler.sync();
      await s.reconciler.sync();
      const reason = s.reconciler.notReadyReason();
      assert.match(reason ?? '', /cniVersion 1\.1\.0 \(--cni-version 1\.1\.0\) is newer than containerd:\/\/1\.6\.20 speaks \(up to 1\.0\.0\)/);
      assert.equal(s.reconciler.ready(), false);
      const events = s.status.calls.filter((c) => c.call === 'recordNodeEvent');
      assert.deepEqual(events.map((e) => [e.type, e.reason]), [['Warning', 'CNIVersionUnsupported']], 'once, not per sync');
      const conditions = s.status.calls.filter((c) => c.call === 'setNetworkUnavailable');
      assert.deepEqual(conditions.map((c) => c.unavailable), [true]);
      assert.match(s.metrics.render(), /^bridgeway_conflist_runtime_mismatch 1$/m);
      assert.match(s.metrics.render(), /^bridgeway_ready 0$/m);
      // The runtime is upgraded: the same flag is fine now.
      s.source.list = [clusterNode('node-0', 0, { containerRuntimeVersion: 'containerd://2.0.1' }), clusterNode('node-1', 1)];
      await s.reconciler.sync();
      assert.equal(s.reconciler.notReadyReason(), undefined);
      assert.deepEqual(s.status.calls.filter((c) => c.call === 'setNetworkUnavailable').map((c) => c.unavailable), [true, false]);
    }, { extra: ['--cni-version', '1.1.0'] }));
});

describe('reconciler: waiting for its own Node', () => {
  test('before the node list has arrived: not ready, and no warning (the list is on its way)', () =>
    withSetup(async (s) => {
      s.source.isConnected = false;
      s.source.list = [];
      await s.reconciler.sync();
      assert.deepEqual(s.log.lines.filter((l) => l.level === 'warn'), []);
      assert.ok(s.log.lines.some((l) => l.level === 'debug' && l.msg === 'waiting: the node list has not arrived yet'));
      assert.deepEqual(s.status.calls.map((c) => c.call), ['publishEth1Address'], 'the address is published all the same');
      // The list arrives with our Node: no wait was real, none is reported.
      s.source.isConnected = true;
      s.source.list = [clusterNode('node-0', 0), clusterNode('node-1', 1)];
      await s.reconciler.sync();
      assert.deepEqual(s.log.lines.filter((l) => l.level === 'warn' && l.msg.startsWith('waiting')), []);
      assert.equal(s.reconciler.notReadyReason(), undefined);
    }));

  test('the list arrives while the first sync publishes the address (the Kubernetes-mode start): no warning', () =>
    withSetup(async (s) => {
      const full = s.source.list;
      s.source.isConnected = false;
      s.source.list = [];
      const publish = s.status.publishEth1Address.bind(s.status);
      s.status.publishEth1Address = async (node, ip) => {
        await publish(node, ip);
        s.source.isConnected = true; // the informer listed meanwhile, and will trigger the next sync
        s.source.list = full;
      };
      await s.reconciler.sync();
      assert.deepEqual(s.log.lines.filter((l) => l.level === 'warn'), []);
      await s.reconciler.sync();
      assert.equal(s.reconciler.notReadyReason(), undefined);
      assert.deepEqual(s.log.lines.filter((l) => l.level === 'warn'), []);
    }));

  test('listed, and our Node is absent or has no podCIDR: a warning, once per reason', () =>
    withSetup(async (s) => {
      s.source.list = [clusterNode('node-1', 1)];
      await s.reconciler.sync();
      await s.reconciler.sync();
      s.source.list = [clusterNode('node-0', 0, { podCIDRs: [] }), clusterNode('node-1', 1)];
      await s.reconciler.sync();
      assert.deepEqual(s.log.lines.filter((l) => l.level === 'warn').map((l) => l.msg), [
        'waiting: node node-0 is not in the node list yet',
        'waiting: node node-0 has no IPv4 podCIDR yet',
      ]);
      assert.equal(s.reconciler.notReadyReason(), 'node node-0 has no IPv4 podCIDR yet');
      assert.ok(!fs.existsSync(s.host.conflist), 'no conflist while waiting');
    }));
});

describe('reconciler: a failing step', () => {
  const cases: { step: string; inject: (s: Setup) => void; heal: (s: Setup) => void; kept: (s: Setup) => void; reason: RegExp }[] = [
    {
      step: 'routes',
      inject: (s) => void s.run.failNth(isRouteChange, 1, { exitCode: 1, stderr: 'RTNETLINK answers: Network is unreachable\nCommand failed -:1\n' }),
      heal: () => {},
      kept: (s) => {
        assert.ok(fs.existsSync(path.join(s.host.binDir, 'bridgeway')), 'the plugin installed before it stays');
        assert.equal(s.run.callsMatching(['iptables-nft-restore']).length, 0, 'nothing after the failing step ran');
      },
      reason: /^the last sync failed at step routes: ip route \S+ 10\.244\.2\.0\/24 .*Network is unreachable/,
    },
    {
      step: 'iptables',
      inject: (s) => void s.run.failNth(['iptables-nft-restore'], 1, { exitCode: 2, stderr: 'iptables-restore: line 3 failed' }),
      heal: () => {},
      kept: (s) => {
        const routeChanges = s.run.callsMatching(isRouteChange);
        assert.equal(routeChanges.length, 1, 'the route went in');
        assert.doesNotMatch(routeChanges[0]!.input!, /^route del/m, 'and nothing took it out again');
        assert.ok(!fs.existsSync(s.host.conflist), 'no conflist: the runtime is not told the network is ready');
      },
      reason: /^the last sync failed at step iptables: iptables-nft-restore --noflush -w 5: exit status 2: iptables-restore: line 3 failed/,
    },
    {
      step: 'install',
      inject: (s) => fs.renameSync(s.host.plugin, `${s.host.plugin}.away`),
      heal: (s) => fs.renameSync(`${s.host.plugin}.away`, s.host.plugin),
      kept: (s) => {
        assert.equal(s.run.callsMatching(isRouteChange).length, 0, 'no routes before the plugin is in place');
        assert.ok(!fs.existsSync(s.host.conflist));
      },
      reason: /^the last sync failed at step install: the plugin executable .* does not exist \(set --plugin-binary\)/,
    },
    {
      step: 'conflist',
      // The conf dir's place is taken by a file: mkdir fails as it would on a read-only /etc.
      inject: (s) => fs.writeFileSync(s.host.confDir, 'not a directory'),
      heal: (s) => fs.rmSync(s.host.confDir),
      kept: (s) => {
        assert.equal(s.run.callsMatching(['iptables-nft-restore']).length, 1, 'routes and rules are in place');
        assert.deepEqual(s.status.calls.map((c) => c.call), ['publishEth1Address'], 'NetworkUnavailable is not cleared');
      },
      reason: /^the last sync failed at step conflist: .*(EEXIST|ENOTDIR)/,
    },
    {
      step: 'status',
      inject: (s) => void (s.status.failing = 'setNetworkUnavailable'),
      heal: (s) => void (s.status.failing = undefined),
      kept: (s) => assert.ok(fs.existsSync(s.host.conflist), 'the conflist is written'),
      reason: /^the last sync failed at step status: setNetworkUnavailable: the API server said 503/,
    },
  ];

  for (const c of cases) {
    test(`${c.step}: keeps what worked, /readyz names the step and why, the scheduler retries with backoff, then ready`, async () => {
      const s = setup();
      try {
        c.inject(s);
        const clock = new FakeClock();
        const retries: number[] = [];
        const scheduler = new SyncScheduler({
          clock, resyncMs: 60_000, backoff: { initialMs: 1000, maxMs: 30_000 },
          sync: () => s.reconciler.sync(), onError: (_e, _n, retryInMs) => retries.push(retryInMs),
        });
        clock.settle = () => scheduler.idle;
        scheduler.start();
        await clock.advance(0);
        assert.deepEqual(retries, [1000]);
        c.kept(s);
        assert.match(s.reconciler.notReadyReason() ?? '', c.reason);
        assert.match(s.metrics.render(), new RegExp(`^bridgeway_syncs_total\\{result="error",step="${c.step}"\\} 1$`, 'm'));
        assert.match(s.metrics.render(), /^bridgeway_ready 0$/m);
        if (c.step !== 'routes' && c.step !== 'iptables') {
          // A fault that lasts: the retries back off.
          await clock.advance(1000);
          assert.deepEqual(retries, [1000, 2000]);
        }
        c.heal(s);
        await clock.advance(clock.pending()[0]!);
        scheduler.stop();
        assert.equal(s.reconciler.notReadyReason(), undefined);
        assert.equal(JSON.parse(fs.readFileSync(s.host.conflist, 'utf8')).cniVersion, '1.0.0');
        assert.match(s.metrics.render(), /^bridgeway_ready 1$/m);
      } finally {
        s.host.cleanup();
      }
    });
  }
});

