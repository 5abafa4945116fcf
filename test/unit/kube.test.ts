// daemonset/kube.ts against a fake API server on 127.0.0.1: list/watch, the failures the informer
// must survive (dropped streams, 410 Gone, an API server gone for 2 s), and the patches we send.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.ts';
import { createKubeNodeApi, createKubeNodeSource, slimNode, toClusterNode } from '../../daemonset/kube.ts';
import type { NodeSource } from '../../daemonset/node-source.ts';
import { Metrics } from '../../daemonset/metrics.ts';
import { ETH1_ANNOTATION } from '../../daemonset/node-info.ts';
import { FAKE_TOKEN, TEST_CA_FILE, makeNode, startFakeApiServer, type FakeApiServer, type FakeApiServerOptions, type JsonObject } from '../fixtures/fake-apiserver.ts';

interface LogEntry {
  level: string;
  obj: object;
  msg: string | undefined;
}

function captureLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const at = (level: string) => (obj: object | string, msg?: string) =>
    void entries.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj, msg });
  const logger = { entries, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function metric(metrics: Metrics, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics.render());
  return match ? Number(match[1]) : NaN;
}

const BACKOFF = { initialMs: 50, maxMs: 500 };
const nodeA = () => makeNode({ name: 'a', podCIDR: '10.244.1.0/24', internalIP: '192.168.1.11' });
const nodeB = () => makeNode({ name: 'b', podCIDR: '10.244.2.0/24', internalIP: '192.168.1.12' });

interface Harness {
  server: FakeApiServer;
  source: NodeSource;
  metrics: Metrics;
  log: ReturnType<typeof captureLogger>;
  changes: () => number;
  names: () => string[];
  lists: () => number;
  watches: () => JsonObject[];
}

/** A fake API server with nodes a and b, and a started node source; both torn down afterwards. */
async function withSource(
  body: (h: Harness) => Promise<void>,
  options: { onChange?: () => void; nodes?: JsonObject[]; server?: FakeApiServerOptions; watchInactivityMs?: number } = {},
): Promise<void> {
  const { onChange, nodes = [nodeA(), nodeB()] } = options;
  const server = await startFakeApiServer(nodes, options.server);
  const metrics = new Metrics();
  const log = captureLogger();
  let changes = 0;
  const source = createKubeNodeSource({
    kubeconfig: server.kubeconfig,
    log,
    metrics,
    backoff: BACKOFF,
    watchInactivityMs: options.watchInactivityMs,
    onChange: () => {
      changes += 1;
      onChange?.();
    },
  });
  try {
    source.start();
    await waitFor('the first list and watch', () => source.connected());
    await body({
      server,
      source,
      metrics,
      log,
      changes: () => changes,
      names: () => source.nodes().map((n) => n.name),
      lists: () => server.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/nodes' && r.query.watch !== 'true').length,
      watches: () => server.requests.filter((r) => r.query.watch === 'true').map((r) => r.query),
    });
  } finally {
    source.stop();
    await server.close();
  }
}

describe('toClusterNode', () => {
  test('takes name, podCIDRs (or podCIDR), InternalIPs and annotations', () => {
    const node: V1Node = {
      metadata: { name: 'n1', annotations: { [ETH1_ANNOTATION]: '192.168.50.1' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'] },
      status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '192.168.1.1' }, { type: 'InternalIP', address: 'fd00::1' }] },
    };
    assert.deepEqual(toClusterNode(node), {
      name: 'n1',
      podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'],
      internalIPs: ['192.168.1.1', 'fd00::1'],
      annotations: { [ETH1_ANNOTATION]: '192.168.50.1' },
    });
    assert.deepEqual(toClusterNode({ metadata: { name: 'old' }, spec: { podCIDR: '10.244.9.0/24' } }).podCIDRs, ['10.244.9.0/24']);
    assert.deepEqual(toClusterNode({ metadata: { name: 'new' } }), { name: 'new', podCIDRs: [], internalIPs: [], annotations: {} });
  });
});

/** A Node as kubelet and kubeadm write it: most of it is of no interest to routing. */
function kubeletNode(): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'n1',
      uid: 'b4b2c0de',
      resourceVersion: '4711',
      labels: { 'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/worker': '' },
      annotations: { [ETH1_ANNOTATION]: '192.168.50.1', 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      managedFields: [{ manager: 'kubelet', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:images': {} } } }],
    },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], providerID: 'kind://docker/kind/n1' },
    status: {
      addresses: [{ type: 'InternalIP', address: '172.18.0.3' }, { type: 'Hostname', address: 'n1' }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      capacity: { cpu: '8', memory: '32Gi' },
      images: [{ names: ['registry.k8s.io/pause@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097'], sizeBytes: 320368 }],
      nodeInfo: {
        architecture: 'amd64', bootID: 'b', containerRuntimeVersion: 'containerd://1.7.13', kernelVersion: '6.1.0', kubeProxyVersion: 'v1.31.0',
        kubeletVersion: 'v1.31.0', machineID: 'm', operatingSystem: 'linux', osImage: 'Debian GNU/Linux 12', systemUUID: 's',
      },
    },
  };
}

describe('slimNode', () => {
  test('keeps name, resourceVersion, podCIDRs, InternalIPs, the runtime version and our annotation; drops the rest', () => {
    const node = kubeletNode();
    const slim = slimNode(node);
    assert.deepEqual(JSON.parse(JSON.stringify(slim)), {
      metadata: { name: 'n1', resourceVersion: '4711', annotations: { [ETH1_ANNOTATION]: '192.168.50.1' } },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
      status: { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }], nodeInfo: { containerRuntimeVersion: 'containerd://1.7.13' } },
    });
    assert.deepEqual(toClusterNode(slim), toClusterNode(node), 'routing sees the same node');
    assert.ok(JSON.stringify(slim).length * 4 < JSON.stringify(node).length);
  });

  test('a Node without spec, status or annotations stays a valid (empty) Node', () => {
    assert.deepEqual(toClusterNode(slimNode({ metadata: { name: 'new' } })), { name: 'new', podCIDRs: [], internalIPs: [], annotations: {} });
  });
});

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

  test('kubelet\'s status updates and unrelated metadata changes do not call onChange', async () => {
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
    });
  });

  test('a big list is read in pages of 100 from one snapshot, over a kept connection; a continue token expiring mid-list restarts the list', async () => {
    const many = Array.from({ length: 250 }, (_, i) => makeNode({ name: `n${String(i).padStart(4, '0')}`, podCIDR: `10.${i >> 8}.${i & 255}.0/24` }));
    const server = await startFakeApiServer(many);
    server.expireContinues(1);
    const log = captureLogger();
    let changes = 0;
    const source = createKubeNodeSource({ kubeconfig: server.kubeconfig, log, metrics: new Metrics(), backoff: BACKOFF, onChange: () => changes++ });
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

  test('a refused list (403): logged with the API server\'s message, retried with backoff until allowed', async () => {
    const server = await startFakeApiServer([nodeA()]);
    server.forbidLists(2);
    const log = captureLogger();
    const metrics = new Metrics();
    const source = createKubeNodeSource({ kubeconfig: server.kubeconfig, log, metrics, backoff: BACKOFF, onChange: () => {} });
    try {
      source.start();
      await waitFor('listed after two refusals', () => source.connected(), 3000);
      const warnings = log.entries.filter((e) => e.level === 'warn').map((e) => e.obj as { error: { message: string; code: number } });
      assert.equal(warnings.length, 2);
      assert.deepEqual(warnings[0]!.error, { message: 'nodes is forbidden: User "system:serviceaccount:kube-system:bridgeway" cannot list resource "nodes" in API group "" at the cluster scope', code: 403 });
      assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), 2);
      assert.deepEqual(source.nodes().map((n) => n.name), ['a']);
    } finally {
      source.stop();
      await server.close();
    }
  });

  test('watches ask for bookmarks; a BOOKMARK moves the resourceVersion and changes nothing else', async () => {
    await withSource(async ({ server, names, changes, lists, watches, metrics }) => {
      assert.equal(watches()[0]!.allowWatchBookmarks, 'true');
      const rv = server.bumpResourceVersion(7); // other kinds changed meanwhile
      server.bookmark();
      await sleep(50);
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

  test('a watch reset by the network: the informer stops, we restart it, it resumes without a relist', async () => {
    await withSource(async ({ server, source, names, lists, metrics, log }) => {
      server.dropWatches('abrupt');
      await waitFor('a restart', () => metric(metrics, 'bridgeway_informer_restarts_total') === 1);
      await waitFor('connected again', () => source.connected() && server.openWatches() === 1);
      server.modifyNode('b', (n) => ((n.spec as JsonObject).podCIDRs = ['10.244.22.0/24']));
      await waitFor('b modified', () => source.nodes()[1]!.podCIDRs[0] === '10.244.22.0/24');
      assert.deepEqual(names(), ['a', 'b']);
      assert.equal(lists(), 1);
      const warning = log.entries.find((e) => e.level === 'warn');
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
      await withSource(async ({ server, source, names, changes, lists, metrics }) => {
        server.goneAs = goneAs;
        server.freezeWatches(); // the stream goes quiet: what happens next is missed
        server.addNode(makeNode({ name: 'd', podCIDR: '10.244.4.0/24' }));
        server.deleteNode('b');
        server.modifyNode('a', (n) => ((n.metadata as JsonObject).annotations = { [ETH1_ANNOTATION]: '192.168.50.11' }));
        server.compact();
        await sleep(50);
        assert.deepEqual(names(), ['a', 'b'], 'nothing seen yet');
        const before = changes();
        server.dropWatches('clean');
        await waitFor('converged', () => names().join() === 'a,d');
        assert.equal(source.nodes()[0]!.annotations[ETH1_ANNOTATION], '192.168.50.11');
        assert.equal(changes() - before, 3, 'add d, update a, delete b');
        assert.equal(lists(), 2, 'one relist');
        assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), NaN, 'client-node handles 410 itself');
        await waitFor('watching again', () => source.connected() && server.openWatches() === 1);
        server.addNode(makeNode({ name: 'e' }));
        await waitFor('e added', () => names().includes('e'));
      });
    });
  }

  test('API server down for 2 s: restarts with backoff, not connected meanwhile, catches up after', async () => {
    await withSource(async ({ server, source, names, lists, metrics, log }) => {
      await server.down();
      await waitFor('disconnected', () => !source.connected());
      assert.equal(metric(metrics, 'bridgeway_informer_connected'), 0);
      assert.deepEqual(names(), ['a', 'b'], 'the cache is kept while down');
      server.addNode(makeNode({ name: 'e', podCIDR: '10.244.5.0/24' }));
      server.deleteNode('a');
      await sleep(2000);
      const restarts = metric(metrics, 'bridgeway_informer_restarts_total');
      // 50+100+200+400+500+500... ms: about 6 in 2 s, far fewer than a tight loop would make.
      assert.ok(restarts >= 3 && restarts <= 10, `restarts: ${restarts}`);
      const delays = log.entries.filter((e) => e.level === 'warn').map((e) => (e.obj as { restartInMs: number }).restartInMs);
      assert.deepEqual(delays.slice(0, 5), [50, 100, 200, 400, 500], 'doubling, capped');
      assert.ok(log.entries.some((e) => e.level === 'warn' && /ECONNREFUSED/.test(JSON.stringify(e.obj))));
      assert.equal(source.connected(), false);
      await server.up();
      await waitFor('connected again', () => source.connected(), 3000);
      await waitFor('caught up', () => names().join() === 'b,e');
      assert.equal(metric(metrics, 'bridgeway_informer_connected'), 1);
      assert.equal(lists(), 1, 'resumed from the resourceVersion: history still had it');
    });
  });

  test('stop() ends everything, even during a reconnect delay: no request afterwards', async () => {
    await withSource(async ({ server, source, watches }) => {
      server.dropWatches('clean'); // reopened at once
      await waitFor('second watch', () => server.openWatches() === 1 && watches().length === 2);
      server.dropWatches('clean'); // no event in between: client-node waits before reopening
      await sleep(20);
      source.stop();
      const seen = server.requests.length;
      await sleep(700);
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
});

/** An HTTP CONNECT proxy on 127.0.0.1, as a kubeconfig's proxy-url names one; records each tunnel's target. */
async function startConnectProxy(): Promise<{ url: string; tunnels: string[]; close(): Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? '';
    tunnels.push(target);
    const [host, port] = target.split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('over HTTPS (the kubeconfig\'s CA and credentials)', () => {
  test('with a bearer token: lists, watches and patches', async () => {
    await withSource(
      async ({ server, names }) => {
        assert.match(server.url, /^https:/);
        server.addNode(makeNode({ name: 'c', podCIDR: '10.244.3.0/24' }));
        await waitFor('c added through the watch', () => names().includes('c'));
        const api = createKubeNodeApi({ kubeconfig: server.kubeconfig, log: captureLogger() });
        await api.publishEth1Address('a', '192.168.50.11');
        assert.equal(((server.node('a')!.metadata as JsonObject).annotations as JsonObject)[ETH1_ANNOTATION], '192.168.50.11');
      },
      { server: { tls: { auth: 'token' } } },
    );
  });

  test('in-cluster: the service account\'s token file and CA, where a pod finds them', async () => {
    const server = await startFakeApiServer([nodeA()], { tls: { auth: 'token' } });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgeway-in-cluster-'));
    const env = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    let source: NodeSource | undefined;
    try {
      const serviceAccount = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
      fs.mkdirSync(serviceAccount, { recursive: true });
      fs.writeFileSync(path.join(serviceAccount, 'token'), FAKE_TOKEN);
      fs.copyFileSync(TEST_CA_FILE, path.join(serviceAccount, 'ca.crt'));
      fs.writeFileSync(path.join(serviceAccount, 'namespace'), 'kube-system');
      process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
      process.env.KUBERNETES_SERVICE_PORT = new URL(server.url).port;
      const kubeconfig = new KubeConfig();
      kubeconfig.loadFromCluster(root); // what loadKubeConfig does in a pod, with the files under `root`
      source = createKubeNodeSource({ kubeconfig, log: captureLogger(), metrics: new Metrics(), backoff: BACKOFF, onChange: () => {} });
      source.start();
      await waitFor('listed and watching', () => source!.connected());
      assert.deepEqual(source.nodes().map((n) => n.name), ['a']);
    } finally {
      source?.stop();
      for (const [name, value] of [['KUBERNETES_SERVICE_HOST', env.host], ['KUBERNETES_SERVICE_PORT', env.port]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      fs.rmSync(root, { recursive: true, force: true });
      await server.close();
    }
  });

  test('through the kubeconfig\'s proxy-url (an HTTP CONNECT proxy)', async () => {
    const proxy = await startConnectProxy();
    try {
      await withSource(
        async ({ server, names }) => {
          assert.deepEqual(names(), ['a', 'b']);
          const apiHost = new URL(server.url).host;
          assert.ok(proxy.tunnels.length >= 1 && proxy.tunnels.every((target) => target === apiHost), JSON.stringify(proxy.tunnels));
        },
        { server: { tls: { auth: 'token' }, proxyUrl: proxy.url } },
      );
    } finally {
      await proxy.close();
    }
  });

  test('with a client certificate', async () => {
    await withSource(async ({ names }) => assert.deepEqual(names(), ['a', 'b']), { server: { tls: { auth: 'client-certificate' } } });
  });

  for (const { what, tls, expected } of [
    { what: 'a wrong token (401)', tls: { auth: 'token', token: `not-${FAKE_TOKEN}` }, expected: /"code":401/ },
    { what: 'a server certificate from a CA the kubeconfig does not trust', tls: { auth: 'token', trust: 'other' }, expected: /unable to verify the first certificate/ },
  ] as const) {
    test(`${what}: never connected, logged with the reason, retried`, async () => {
      const server = await startFakeApiServer([nodeA()], { tls });
      const log = captureLogger();
      const metrics = new Metrics();
      const source = createKubeNodeSource({ kubeconfig: server.kubeconfig, log, metrics, backoff: BACKOFF, onChange: () => {} });
      try {
        source.start();
        await waitFor('two restarts', () => metric(metrics, 'bridgeway_informer_restarts_total') >= 2);
        assert.equal(source.connected(), false);
        assert.deepEqual(source.nodes(), []);
        const warning = log.entries.find((e) => e.level === 'warn');
        assert.match(JSON.stringify(warning?.obj), expected);
      } finally {
        source.stop();
        await server.close();
      }
    });
  }
});

describe('node api', () => {
  async function withApi(body: (server: FakeApiServer, api: ReturnType<typeof createKubeNodeApi>) => Promise<void>): Promise<void> {
    const server = await startFakeApiServer([makeNode({ name: 'a', annotations: { 'other.io/keep': 'yes' } })]);
    try {
      await body(server, createKubeNodeApi({ kubeconfig: server.kubeconfig, log: captureLogger() }));
    } finally {
      await server.close();
    }
  }
  const patches = (server: FakeApiServer) => server.requests.filter((r) => r.method === 'PATCH');

  test('publishEth1Address: a JSON merge patch of one annotation, skipped when already there', async () => {
    await withApi(async (server, api) => {
      await api.publishEth1Address('a', '192.168.50.11');
      assert.deepEqual(patches(server), [
        {
          method: 'PATCH',
          path: '/api/v1/nodes/a',
          query: {},
          contentType: 'application/merge-patch+json',
          body: { metadata: { annotations: { [ETH1_ANNOTATION]: '192.168.50.11' } } },
        },
      ]);
      assert.deepEqual((server.node('a')!.metadata as JsonObject).annotations, { 'other.io/keep': 'yes', [ETH1_ANNOTATION]: '192.168.50.11' });
      await api.publishEth1Address('a', '192.168.50.11');
      assert.equal(patches(server).length, 1, 'unchanged: no patch');
      await api.publishEth1Address('a', '192.168.50.99');
      assert.equal(patches(server).length, 2);
      assert.equal(((server.node('a')!.metadata as JsonObject).annotations as JsonObject)[ETH1_ANNOTATION], '192.168.50.99');
    });
  });

  test('setNetworkUnavailable: a strategic merge patch of the status subresource that keeps the other conditions', async () => {
    await withApi(async (server, api) => {
      await api.setNetworkUnavailable('a', false, 'bridgeway is running');
      const [first] = patches(server);
      assert.equal(first!.path, '/api/v1/nodes/a/status');
      assert.equal(first!.contentType, 'application/strategic-merge-patch+json');
      const sent = ((first!.body as JsonObject).status as JsonObject).conditions as JsonObject[];
      assert.equal(sent.length, 1);
      const { lastTransitionTime, lastHeartbeatTime, ...rest } = sent[0]!;
      assert.deepEqual(rest, { type: 'NetworkUnavailable', status: 'False', reason: 'BridgewayIsUp', message: 'bridgeway is running' });
      assert.match(String(lastTransitionTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(lastHeartbeatTime, lastTransitionTime);
      const conditions = () => (server.node('a')!.status as JsonObject).conditions as JsonObject[];
      assert.deepEqual(conditions().map((c) => `${c.type}=${c.status}`), ['Ready=True', 'NetworkUnavailable=False']);

      await api.setNetworkUnavailable('a', false, 'bridgeway is running');
      assert.equal(patches(server).length, 1, 'unchanged: no patch');

      await api.setNetworkUnavailable('a', false, 'still running');
      const kept = (((patches(server)[1]!.body as JsonObject).status as JsonObject).conditions as JsonObject[])[0]!;
      assert.equal(kept.lastTransitionTime, lastTransitionTime, 'same status: the transition time stays');

      await api.setNetworkUnavailable('a', true, 'no podCIDR yet');
      assert.equal(patches(server).length, 3);
      assert.deepEqual(
        conditions().map((c) => `${c.type}=${c.status}/${c.reason ?? ''}`),
        ['Ready=True/KubeletReady', 'NetworkUnavailable=True/BridgewayIsDown'],
      );
    });
  });

  test('API errors reject with a short message and crash nothing', async () => {
    await withApi(async (server, api) => {
      await assert.rejects(api.publishEth1Address('missing', '192.168.50.1'), /publishing bridgeway.io\/eth1-ip on node missing: 404 nodes "missing" not found/);
      // The kept connection the server just cut fails as "socket hang up"; the request is sent
      // again on a new connection, which is refused.
      await server.down();
      await assert.rejects(api.setNetworkUnavailable('a', false, 'x'), /setting NetworkUnavailable on node a: .*ECONNREFUSED/);
    });
  });
});
