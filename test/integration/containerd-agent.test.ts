// The conflist the agent writes, unchanged, runs containers under Debian's containerd 1.6 (issue
// 8 item 1: the old default, 1.1.0, failed every pod with `unsupported CNI result version`).
// The real agent runs once, in standalone mode with its defaults, against the containerd node's
// netns and directories (containerd-node.ts); then `ctr run --cni` starts a pod with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AGENT } from '../support/cluster.ts';
import { ContainerdNode, GATEWAY, PLUGIN, execOk, destroyAndCheck, skipReason, snapshotMachinePaths, sweepDeadRuns, until, within } from './containerd-node.ts';

const skip = skipReason() ?? (!fs.existsSync(AGENT) ? `${AGENT} is missing: run npm run build` : undefined);

test('containerd 1.6 runs a pod with the conflist the agent wrote (standalone defaults, --once)', { timeout: 120_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  assert.ok(fs.existsSync(PLUGIN), `${PLUGIN} is missing: run \`npm run build\` first`);
  sweepDeadRuns();
  const machineBefore = snapshotMachinePaths();
  const node = new ContainerdNode();
  let failed = false;
  try {
    await node.start({ agent: true });
    // The node's interface to its peers (none here), for the agent to choose: one end of a veth
    // pair inside the node (this kernel has no dummy links).
    for (const args of [
      ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1peer'], ['addr', 'add', '192.168.77.10/24', 'dev', 'eth1'],
      ['link', 'set', 'eth1peer', 'up'], ['link', 'set', 'eth1', 'up'],
    ]) {
      await execOk(['ip', '-n', node.netns, ...args]);
    }
    const nodesFile = path.join(node.work, 'nodes.yaml');
    fs.writeFileSync(nodesFile, 'nodes:\n  - {name: ctr-node, podCIDR: 10.99.0.0/24, eth1IP: 192.168.77.10}\n');
    await execOk(['nsenter', `--net=/run/netns/${node.netns}`, '--', AGENT, '--once',
      '--node-name', 'ctr-node', '--nodes-file', nodesFile, '--cluster-cidr', '10.99.0.0/16',
      '--cni-bin-dir', node.bin, '--cni-conf-dir', node.netd, '--plugin-binary', PLUGIN,
      '--data-dir', path.join(node.work, 'data'), '--cni-log-file', node.cniLog, '--log-level', 'info',
    ], 60_000).catch((error: Error) => assert.fail(`the agent's --once failed: ${error.message}`));
    const conflist = JSON.parse(fs.readFileSync(path.join(node.netd, '10-bridgeway.conflist'), 'utf8'));
    assert.equal(conflist.cniVersion, '1.0.0', 'standalone default');
    assert.deepEqual(conflist.plugins.map((p: { type: string }) => p.type), ['bridgeway', 'portmap'], 'Debian\'s portmap speaks 1.0.0, so it is chained');
    assert.deepEqual(conflist.plugins[0].ipam, { subnet: '10.99.0.0/24' });

    const pod = node.runPod('a', `ip -o -4 addr show dev eth0 && ping -c 1 -W 2 ${GATEWAY}`);
    const done = await within(pod.done, 30_000);
    assert.ok(done, `the pod did not finish in 30 s:\n${pod.output()}${pod.errors()}${node.diagnostics()}`);
    assert.equal(done.code, 0, `the pod failed (${done.code ?? done.signal}):\n${done.stdout}\n${done.stderr}${node.diagnostics()}`);
    assert.match(done.stdout, /^\d+: eth0\s+inet 10\.99\.0\.\d+\/24 /m, 'an address of the podCIDR');
    assert.match(done.stdout, new RegExp(`from ${GATEWAY.replaceAll('.', '\\.')}`), 'the gateway answers');
    await until('the pod\'s address to be released', 10_000, () => (node.reserved().length === 0 ? true : undefined));
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    await destroyAndCheck(node, machineBefore, failed, t);
  }
});
