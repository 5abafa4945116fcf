import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startHealthServer } from '../../../../daemonset/serve/health.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';

test('/readyz: the verdict, then the detail lines either way', async () => {
  let reason: string | undefined = 'the last sync failed at step iptables: exit status 2';
  const server = await startHealthServer({ host: '127.0.0.1', port: 0 }, {
    metrics: new Metrics(),
    notReadyReason: () => reason,
    readyDetail: () => ['conflist cniVersion 1.0.0 (runtime: containerd://1.7.22 speaks CNI up to 1.0.0)'],
  });
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`;
    const notReady = await fetch(url);
    assert.equal(notReady.status, 503);
    assert.equal(await notReady.text(), 'not ready: the last sync failed at step iptables: exit status 2\nconflist cniVersion 1.0.0 (runtime: containerd://1.7.22 speaks CNI up to 1.0.0)\n');
    reason = undefined;
    const ready = await fetch(url);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), 'ok\nconflist cniVersion 1.0.0 (runtime: containerd://1.7.22 speaks CNI up to 1.0.0)\n');
  } finally {
    server.close();
  }
});
