// status/step.ts: what the agent writes about its own Node (NetworkUnavailable, the Warning
// event), against a recording stand-in for the API (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StatusReport } from '../../../../daemonset/status/step.ts';
import { RecordingNodeStatus } from '../../../fixtures/agent-node.ts';


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
      { call: 'recordNodeEvent', type: 'Warning', reason: 'CNIVersionUnsupported', message: 'cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' },
      { call: 'setNetworkUnavailable', unavailable: true, message: 'bridgeway: cniVersion 1.1.0 is newer than containerd://1.6.20 speaks' },
      { call: 'setNetworkUnavailable', unavailable: false, message: 'bridgeway routes and rules are in place' },
    ]);
  });

  test('standalone (no API): nothing to write', async () => {
    assert.equal((await new StatusReport({ nodeName: 'n' }).report({ mismatch: 'x' })).networkUnavailable, true);
  });
});
