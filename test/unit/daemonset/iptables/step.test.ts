// iptables/step.ts: the iptables step of the agent's sync on its own, against the recording fake
// runner standing in for the host (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCidr } from '../../../../lib/cidr.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { IptablesSync } from '../../../../daemonset/iptables/step.ts';
import { nodeRunner, recordingLogger } from '../../../fixtures/agent-node.ts';

const podCIDRs = [parseCidr('10.244.1.0/24')!];
const clusterCIDRs = [parseCidr('10.244.0.0/16')!];

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

describe('step: iptables, dual-stack', () => {
  const dual = [parseCidr('10.244.1.0/24')!, parseCidr('fd00:10:244:1::/64')!];
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
