// The sync as one list of { name, run } steps: their order, and the names /readyz and
// bridgeway_syncs_total{step} use (dashboards depend on them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { syncSteps } from '../../../../daemonset/loop/steps.ts';
import { agentConfig, FakeSource, nodeRunner, recordingLogger, tempHost } from '../../../fixtures/agent-node.ts';
import { iproute2Network } from '../../../../daemonset/host/network.ts';

test('the steps, in order, and their names', () => {
  const host = tempHost();
  try {
    const { run } = nodeRunner();
    const steps = syncSteps({ run, network: iproute2Network(run), log: recordingLogger(), metrics: new Metrics(), config: agentConfig(host), source: new FakeSource([]) });
    assert.deepEqual(steps.learn.map((s) => s.name), ['node-view', 'routes-ahead', 'read-node-interface', 'publish-address']);
    assert.deepEqual(steps.program.map((s) => s.name), ['sysctls', 'install', 'routes', 'iptables', 'ovs-steering', 'conflist', 'status', 'network-policy', 'ovs-flow-export']);
    assert.ok([...steps.learn, ...steps.program].every((s) => typeof s.run === 'function'));
  } finally {
    host.cleanup();
  }
});
