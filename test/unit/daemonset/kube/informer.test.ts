// daemonset/kube/informer.ts against a fake API server on 127.0.0.1: list/watch, and the failures
// the informer must survive (dropped streams, 410 Gone, refusals, an API server that is down).
// The source's waits (restart backoff, ListWatch's reconnect delay) run on a fake clock, so these
// tests move time instead of sleeping: every restart below happens because the test fired it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKubeNodeSource } from '../../../../daemonset/kube/informer.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { makeNode, startFakeApiServer, type JsonObject } from '../../../support/fake-apiserver.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
import { BACKOFF, captureLogger, fireNextTimer, metric, nodeA, waitFor, withSource } from '../../../fixtures/kube-kit.ts';
import { ETH1_ANNOTATION } from '../../../../lib/names.ts';

const warnings = (log: ReturnType<typeof captureLogger>) => log.entries.filter((e) => e.level === 'warn');

describe('node source', () => {
  test('the initial list fills nodes() and calls onChange', async () => {
    await withSource(async ({ source, metrics, changes, names, lists }) => {
      assert.deepEqual(names(), ['a', 'b']);
      assert.deepEqual(source.nodes()[0], { name: 'a', podCIDRs: ['10.244.1.0/24'], internalIPs: ['192.168.1.11'], annotations: {} });
      assert.equal(changes(), 2);
      assert.equal(lists(), 1);
      assert.equal(metric(metrics, 'bridgeway_informer_connected'), 1);
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN, 'no restart yet');
    });
  });

  test('ADDED, MODIFIED and DELETED events reach the cache and onChange', async () => {
    await withSource(async ({ server, source, changes, names, lists }) => {
      server.addNode(makeNode({ name: 'c', podCIDR: '10.244.3.0/24' }));
      await waitFor('c added', () => names().includes('c'));
      assert.equal(changes(), 3);
      server.modifyNode('a', (n) => ((n.metadata as JsonObject).annotations = { [ETH1_ANNOTATION]: '192.168.50.11' }));
      await waitFor('a modified', () => source.nodes()[0]!.annotations[ETH1_ANNOTATION] === '192.168.50.11');
      assert.equal(changes(), 4);
      server.deleteNode('b');
      await waitFor('b deleted', () => names().join() === 'a,c');
      assert.equal(changes(), 5);
      assert.equal(lists(), 1, 'all through the watch');
    });
  });

  test('kubelet\'s status updates and unrelated metadata changes do not call onChange; a runtime upgrade does', async () => {
    await withSource(async ({ server, source, changes }) => {
      const before = changes();
      server.modifyNode('a', (n) => ((n.status as JsonObject).conditions = [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-11-24T10:00:00Z' }]));
      server.modifyNode('a', (n) => ((n.status as JsonObject).images = [{ names: ['busybox:1.36'], sizeBytes: 4_000_000 }]));
      server.modifyNode('a', (n) => ((n.metadata as JsonObject).labels = { 'example.com/team': 'blue' }));
      server.modifyNode('a', (n) => ((n.metadata as JsonObject).annotations = { 'example.com/owner': 'someone' }));
      server.modifyNode('a', (n) => (n.status as JsonObject).addresses = [{ type: 'Hostname', address: 'a2' }, { type: 'InternalIP', address: '192.168.1.11' }]);
      // Events arrive in order: once this one is seen, the ones above were handled.
      server.modifyNode('b', (n) => ((n.spec as JsonObject).podCIDRs = ['10.244.22.0/24']));
      await waitFor('b modified', () => source.nodes()[1]!.podCIDRs[0] === '10.244.22.0/24');
      assert.equal(changes() - before, 1, 'only the podCIDR change');
      server.modifyNode('a', (n) => ((n.status as JsonObject).nodeInfo = { containerRuntimeVersion: 'containerd://2.0.4', kubeletVersion: 'v1.31.0' }));
      await waitFor('a\'s runtime upgraded', () => source.nodes()[0]!.containerRuntimeVersion === 'containerd://2.0.4');
      assert.equal(changes() - before, 2);
    });
  });

  test('a big list is read in pages of 100 from one snapshot, over a kept connection; a continue token expiring mid-list restarts the list', async () => {
    const many = Array.from({ length: 250 }, (_, i) => makeNode({ name: `n${String(i).padStart(4, '0')}`, podCIDR: `10.${i >> 8}.${i & 255}.0/24` }));
    const server = await startFakeApiServer(many);
    server.expireContinues(1);
    const log = captureLogger();
    let changes = 0;
    const source = createKubeNodeSource({ kubeconfig: server.kubeconfig, log, metrics: new Metrics(), clock: new FakeClock(), backoff: BACKOFF, onChange: () => changes++ });
    try {
      source.start();
      await waitFor('listed and watching', () => source.connected());
      const lists = server.requests.filter((r) => r.path === '/api/v1/nodes' && r.query.watch !== 'true').map((r) => r.query);
      assert.ok(lists.every((q) => q.limit === '100'), JSON.stringify(lists));
      assert.deepEqual(lists.map((q) => (q.continue ? 'continue' : 'first')), ['first', 'continue', 'first', 'continue', 'continue'], 'the expired page restarts the list');
      assert.equal(source.nodes().length, 250);
      assert.equal(changes, 250, 'each node once: the aborted attempt fed nothing to the cache');
      assert.ok(log.entries.some((e) => /snapshot expired/.test(e.msg ?? '')));
      const watch = server.requests.find((r) => r.query.watch === 'true')!;
      assert.equal(watch.query.resourceVersion, String(server.resourceVersion()), 'the watch starts at the snapshot');
      assert.ok(server.connections() <= 2, `5 list requests and a watch over ${server.connections()} connections`);
    } finally {
      source.stop();
      await server.close();
    }
  });

  test('a refused list (403): logged with the API server\'s message, retried after 50 then 100 ms until allowed', async () => {
    await withSource(
      async ({ server, source, clock, log, metrics, names }) => {
        assert.equal(await fireNextTimer(clock, 'the first restart'), 50);
        assert.equal(source.connected(), false);
        assert.equal(await fireNextTimer(clock, 'the second restart'), 100);
        await waitFor('listed after two refusals', () => source.connected());
        const warned = warnings(log).map((e) => e.obj as { error: { message: string; code: number } });
        assert.equal(warned.length, 2);
        assert.deepEqual(warned[0]!.error, { message: 'nodes is forbidden: User "system:serviceaccount:kube-system:bridgeway" cannot list resource "nodes" in API group "" at the cluster scope', code: 403 });
        assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), 2);
        assert.deepEqual(names(), ['a']);
        assert.equal(clock.time, 150, 'no time passed but the two waits');
        assert.equal(server.requests.length, 4, 'two refused lists, a list, a watch');
      },
      { nodes: [nodeA()], connected: false, beforeStart: (server) => server.forbidLists(2) },
    );
  });

  test('watches ask for bookmarks; a BOOKMARK moves the resourceVersion and changes nothing else', async () => {
    await withSource(async ({ server, names, changes, lists, watches, metrics }) => {
      assert.equal(watches()[0]!.allowWatchBookmarks, 'true');
      const rv = server.bumpResourceVersion(7); // other kinds changed meanwhile
      // The bookmark and the end of the stream go down one response in that order, and the watch
      // reads its lines before it sees the end: no wait is needed for the bookmark to be handled.
      server.bookmark();
      server.dropWatches('clean');
      await waitFor('a second watch', () => watches().length === 2);
      assert.equal(watches()[1]!.resourceVersion, String(rv), 'resumed from the bookmark');
      assert.equal(changes(), 2);
      server.addNode(makeNode({ name: 'c' }));
      await waitFor('c added', () => names().includes('c'));
      assert.equal(lists(), 1);
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN);
    });
  });

  test('a watch closed cleanly is reopened from the last resourceVersion by client-node itself', async () => {
    await withSource(async ({ server, source, names, lists, watches, metrics }) => {
      for (let round = 0; round < 3; round++) {
        const before = watches().length;
        server.dropWatches('clean');
        await waitFor('the watch reopened', () => watches().length === before + 1 && server.openWatches() === 1);
        server.addNode(makeNode({ name: `c${round}` }));
        await waitFor(`c${round} added`, () => names().includes(`c${round}`));
      }
      assert.ok(source.connected());
      assert.equal(lists(), 1, 'no relist needed');
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN, 'not an error');
    });
  });

  test('a watch reset by the network: the informer stops, we restart it after the backoff, it resumes without a relist', async () => {
    await withSource(async ({ server, source, clock, names, lists, metrics, log }) => {
      server.dropWatches('abrupt');
      await waitFor('disconnected', () => !source.connected());
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN, 'not before the backoff has passed');
      assert.equal(await fireNextTimer(clock, 'the restart'), 50);
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), 1);
      await waitFor('connected again', () => source.connected() && server.openWatches() === 1);
      server.modifyNode('b', (n) => ((n.spec as JsonObject).podCIDRs = ['10.244.22.0/24']));
      await waitFor('b modified', () => source.nodes()[1]!.podCIDRs[0] === '10.244.22.0/24');
      assert.deepEqual(names(), ['a', 'b']);
      assert.equal(lists(), 1);
      const warning = warnings(log)[0];
      assert.ok(warning, 'the restart is logged');
      assert.match(JSON.stringify(warning.obj), /"error":\{"message":"[^"]+/);
    });
  });

  test('a watch silent for the inactivity timeout is reopened from its resourceVersion, not restarted', async () => {
    await withSource(
      async ({ server, names, lists, watches, metrics }) => {
        server.freezeWatches(); // a half-open connection: nothing arrives, nothing fails
        server.addNode(makeNode({ name: 'c', podCIDR: '10.244.3.0/24' }));
        await waitFor('c, through a new watch', () => names().includes('c'), 3000);
        const [first, second] = watches();
        assert.equal(second!.resourceVersion, first!.resourceVersion, 'the new watch resumes where the silent one stood');
        assert.equal(lists(), 1, 'no relist');
        assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN, 'not an error');
      },
      { watchInactivityMs: 300 },
    );
  });

  for (const goneAs of ['event', 'http'] as const) {
    test(`410 Gone (${goneAs === 'event' ? 'ERROR event' : 'HTTP status'}): relists and converges, including changes made in the gap`, async () => {
      await withSource(async ({ server, source, clock, names, changes, lists, metrics }) => {
        server.goneAs = goneAs;
        server.freezeWatches(); // the stream goes quiet: what happens next is missed
        server.addNode(makeNode({ name: 'd', podCIDR: '10.244.4.0/24' }));
        server.deleteNode('b');
        server.modifyNode('a', (n) => ((n.metadata as JsonObject).annotations = { [ETH1_ANNOTATION]: '192.168.50.11' }));
        server.compact();
        assert.deepEqual(names(), ['a', 'b'], 'nothing seen yet');
        const before = changes();
        server.dropWatches('clean');
        await waitFor('converged', () => names().join() === 'a,d');
        assert.equal(source.nodes()[0]!.annotations[ETH1_ANNOTATION], '192.168.50.11');
        assert.equal(changes() - before, 3, 'add d, update a, delete b');
        assert.equal(lists(), 2, 'one relist');
        // client-node waits 1 s before watching again after the relist; our backoff caps it.
        assert.equal(await fireNextTimer(clock, 'the reconnect delay'), BACKOFF.maxMs);
        assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN, 'client-node handles 410 itself');
        await waitFor('watching again', () => source.connected() && server.openWatches() === 1);
        server.addNode(makeNode({ name: 'e' }));
        await waitFor('e added', () => names().includes('e'));
      });
    });
  }

  test('API server down for 2 s: restarts with backoff, not connected meanwhile, catches up after', async () => {
    await withSource(async ({ server, source, clock, names, lists, metrics, log }) => {
      await server.down();
      await waitFor('disconnected', () => !source.connected());
      assert.equal(metric(metrics, 'bridgeway_informer_connected'), 0);
      assert.deepEqual(names(), ['a', 'b'], 'the cache is kept while down');
      server.addNode(makeNode({ name: 'e', podCIDR: '10.244.5.0/24' }));
      server.deleteNode('a');
      const delays: number[] = [];
      for (;;) {
        await waitFor('a restart scheduled', () => clock.pending().length > 0);
        if (clock.time + clock.pending()[0]! > 2000) break; // "2 s" of the fake clock
        delays.push(await fireNextTimer(clock, 'a restart'));
      }
      assert.deepEqual(delays, [50, 100, 200, 400, 500, 500], 'doubling, capped: 6 restarts in 2 s, not a tight loop');
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), 6);
      assert.deepEqual(warnings(log).map((e) => (e.obj as { restartInMs: number }).restartInMs), [50, 100, 200, 400, 500, 500, 500], 'each one logged, the next one too');
      assert.ok(warnings(log).some((e) => /ECONNREFUSED/.test(JSON.stringify(e.obj))));
      assert.equal(source.connected(), false);
      await server.up();
      assert.equal(await fireNextTimer(clock, 'the restart after the server is back'), 500);
      await waitFor('connected again', () => source.connected());
      await waitFor('caught up', () => names().join() === 'b,e');
      assert.equal(metric(metrics, 'bridgeway_informer_connected'), 1);
      assert.equal(lists(), 1, 'resumed from the resourceVersion: history still had it');
      server.dropWatches('abrupt');
      assert.equal(await fireNextTimer(clock, 'the restart after the next failure'), 50, 'a watch established resets the backoff');
    });
  });

  test('stop() ends everything, even during a reconnect delay: no request afterwards', async () => {
    await withSource(async ({ server, source, clock, watches }) => {
      server.dropWatches('clean'); // reopened at once
      await waitFor('second watch', () => server.openWatches() === 1 && watches().length === 2);
      server.dropWatches('clean'); // no event in between: client-node waits before reopening
      await waitFor('the reconnect delay', () => clock.pending().length > 0);
      assert.deepEqual(clock.pending(), [BACKOFF.maxMs], 'client-node\'s 1 s, capped by our backoff');
      source.stop();
      assert.deepEqual(clock.pending(), [], 'stop() cancels the delay');
      const seen = server.requests.length;
      // Every wait of the source runs on the fake clock, and none is left: nothing can start a request.
      await clock.advance(60_000);
      assert.equal(server.requests.length, seen);
      assert.equal(server.openWatches(), 0);
      assert.equal(source.connected(), false);
    });
  });

  test('an onChange that throws is logged and does not break the informer', async () => {
    await withSource(
      async ({ server, names, log }) => {
        server.addNode(makeNode({ name: 'c' }));
        server.addNode(makeNode({ name: 'd' }));
        await waitFor('c and d added', () => names().join() === 'a,b,c,d');
        assert.ok(log.entries.some((e) => e.level === 'error' && e.msg === 'onChange threw'));
      },
      {
        onChange: () => {
          throw new Error('scheduler bug');
        },
      },
    );
  });

  test('a kubeconfig that cannot be read fails at creation, not later', () => {
    assert.throws(() =>
      createKubeNodeSource({ kubeconfig: '/nonexistent/kubeconfig', log: captureLogger(), metrics: new Metrics(), onChange: () => {} }),
    );
  });

  test('a backoff that would retry in a tight loop is refused at creation', async () => {
    const server = await startFakeApiServer([]);
    try {
      assert.throws(
        () => createKubeNodeSource({ kubeconfig: server.kubeconfig, log: captureLogger(), metrics: new Metrics(), backoff: { initialMs: 0, maxMs: 0 }, onChange: () => {} }),
        RangeError,
      );
    } finally {
      await server.close();
    }
  });
});
