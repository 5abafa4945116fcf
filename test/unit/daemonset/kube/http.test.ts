// daemonset/kube/http.ts, the agent's transport to the API server: one request (GET, PATCH, POST)
// and its errors, and the kubeconfig's ways to reach and trust the server (HTTPS with a token, a
// client certificate, in-cluster files, a proxy), through the Node source that depends on them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../../daemonset/kube/config.ts';
import { KubeApiError, kubeRequest } from '../../../../daemonset/kube/http.ts';
import { createKubeNodeSource } from '../../../../daemonset/kube/informer.ts';
import { createKubeNodeApi } from '../../../../daemonset/kube/status.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import type { NodeSource } from '../../../../daemonset/nodes/source.ts';
import { FAKE_TOKEN, TEST_CA_FILE, makeNode, startFakeApiServer, type FakeApiServer, type JsonObject } from '../../../support/fake-apiserver.ts';
import { FakeClock } from '../../../fixtures/fake-clock.ts';
import { BACKOFF, captureLogger, fireNextTimer, metric, nodeA, waitFor, withSource } from '../../../fixtures/kube-kit.ts';
import { ETH1_ANNOTATION } from '../../../../lib/names.ts';

describe('kubeRequest', () => {
  async function withServer(body: (server: FakeApiServer, kc: KubeConfig) => Promise<void>): Promise<void> {
    const server = await startFakeApiServer([nodeA()]);
    try {
      await body(server, loadKubeConfig(server.kubeconfig));
    } finally {
      await server.close();
    }
  }

  test('GET: resolves with the body; query values are strings, undefined ones are left out', async () => {
    await withServer(async (server, kc) => {
      const text = await kubeRequest(kc, { method: 'GET', path: '/api/v1/nodes', query: { limit: 100, continue: undefined, watch: false } });
      assert.deepEqual((JSON.parse(text) as { items: JsonObject[] }).items.map((n) => (n.metadata as JsonObject).name), ['a']);
      assert.deepEqual(server.requests[0]!.query, { limit: '100', watch: 'false' });
      assert.equal(server.requests[0]!.body, undefined, 'no body on a GET');
    });
  });

  test('POST: sends the JSON body with its media type; a 201 resolves with the created object', async () => {
    await withServer(async (server, kc) => {
      const event = { apiVersion: 'v1', kind: 'Event', metadata: { generateName: 'a.' }, involvedObject: { kind: 'Node', name: 'a' }, reason: 'Test', message: 'ünïcode ✓' };
      const text = await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces/default/events', body: { contentType: 'application/json', json: event } });
      const created = JSON.parse(text) as JsonObject;
      assert.equal((created.metadata as JsonObject).namespace, 'default');
      assert.equal(created.message, 'ünïcode ✓', 'the body is sent and read as UTF-8');
      const [request] = server.requests;
      assert.equal(request!.method, 'POST');
      assert.equal(request!.contentType, 'application/json');
      assert.deepEqual(request!.body, event);
      assert.equal(server.events().length, 1);
    });
  });

  test('a non-2xx answer rejects with KubeApiError carrying the status code and the server\'s Status', async () => {
    await withServer(async (_server, kc) => {
      const wrongNamespace = { kind: 'Event', metadata: { name: 'x', namespace: 'kube-system' }, involvedObject: { kind: 'Node', name: 'a' } };
      const error = await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces/default/events', body: { contentType: 'application/json', json: wrongNamespace } }).catch((e: unknown) => e);
      assert.ok(error instanceof KubeApiError);
      assert.equal(error.statusCode, 400);
      assert.match(JSON.parse(error.body).message, /namespace of the provided object does not match/);
      const missing = await kubeRequest(kc, { method: 'GET', path: '/api/v1/nodes/zz' }).catch((e: unknown) => e);
      assert.ok(missing instanceof KubeApiError && missing.statusCode === 404);
    });
  });

  test('an aborted request rejects with the abort', async () => {
    await withServer(async (_server, kc) => {
      await assert.rejects(kubeRequest(kc, { method: 'GET', path: '/api/v1/nodes', signal: AbortSignal.abort() }), { name: 'AbortError' });
    });
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
      source = createKubeNodeSource({ kubeconfig, log: captureLogger(), metrics: new Metrics(), clock: new FakeClock(), backoff: BACKOFF, onChange: () => {} });
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
      await withSource(
        async ({ source, clock, log, metrics }) => {
          await fireNextTimer(clock, 'the first restart');
          await fireNextTimer(clock, 'the second restart');
          await waitFor('the third failure', () => log.entries.filter((e) => e.level === 'warn').length === 3);
          assert.equal(metric(metrics, 'bridgeway_informer_restarts_total'), 2);
          assert.equal(source.connected(), false);
          assert.deepEqual(source.nodes(), []);
          const warning = log.entries.find((e) => e.level === 'warn');
          assert.match(JSON.stringify(warning?.obj), expected);
        },
        { nodes: [nodeA()], server: { tls }, connected: false },
      );
    });
  }
});
