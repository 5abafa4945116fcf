// The uninstall DaemonSet's process (`bridgeway-agent uninstall --serve`, manifests/uninstall.yaml)
// on a simulated dual-stack node in Kubernetes mode, against the fake API server, in the order
// the README gives an admin: a pod ran, the uninstall starts while the agent still runs (it must
// wait and remove nothing), the agent is stopped, the uninstall finishes and says so on
// /uninstalled; an agent started by mistake then cannot reinstall. After it, the node has nothing
// of ours: no annotations or condition on its Node, no plugin log, plugin or conflist, no chains,
// routes, bridge, anti-spoofing table or IPAM state.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { skipUnlessAgent } from './harness.ts';
import { AGENT, eventually, withCluster, type SimNode } from '../support/cluster.ts';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import { withKubeAgent } from '../fixtures/kube-agent.ts';
import { makeNode, startFakeApiServer, type JsonObject } from '../support/fake-apiserver.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../lib/names.ts';

const READY = { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };

/** Starts the agent executable with these arguments in the node's namespace; output goes to `out`. */
function startIn(node: SimNode, args: string[], out: { log: string }): ChildProcess {
  const child = spawn('nsenter', [`--net=${node.path}`, '--', AGENT, ...args], { env: { PATH: SYSTEM_PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (out.log += d));
  child.stderr!.on('data', (d) => (out.log += d));
  return child;
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
  else child.once('exit', (code) => resolve(code));
});

describe('uninstall DaemonSet (uninstall --serve) on a simulated node', { skip: skipUnlessAgent }, () => {
  test('waits for the agent, removes everything of ours from the node and its Node object, turns ready, keeps an agent from reinstalling', () =>
    withCluster(2, async (cluster) => {
      const [a, b] = cluster.nodes as [SimNode, SimNode];
      const api = await startFakeApiServer([
        makeNode({ name: a.name, podCIDRs: [a.podCIDR!, a.podCIDRv6!], internalIPs: [a.eth1IP, a.eth1IPv6!], annotations: { 'other.io/keep': 'yes' }, conditions: [READY] }),
        makeNode({ name: b.name, podCIDRs: [b.podCIDR!, b.podCIDRv6!], internalIPs: [b.eth1IP, b.eth1IPv6!], annotations: { [ETH1_ANNOTATION]: b.eth1IP, [ETH1_IPV6_ANNOTATION]: b.eth1IPv6! } }),
      ]);
      const uninstall = { log: '' };
      await withKubeAgent(cluster, a, api, [], async (args) => {
        try {
          await eventually(async () => (await cluster.health(a, '/readyz')).status === 200, 20_000, 'agent ready');
          const nodeA = () => api.node(a.name)!;
          const annotations = () => (nodeA().metadata as JsonObject).annotations as JsonObject;
          const conditions = () => ((nodeA().status as JsonObject).conditions as JsonObject[]).map((c) => `${c.type}=${c.status} ${c.reason}`);
          await eventually(async () => conditions().includes('NetworkUnavailable=False BridgewayIsUp'), 10_000, 'the agent\'s condition');
          assert.deepEqual(annotations(), { 'other.io/keep': 'yes', [ETH1_ANNOTATION]: a.eth1IP, [ETH1_IPV6_ANNOTATION]: a.eth1IPv6 });
          await cluster.addPod(a);
          const logFile = path.join(a.dir, 'cni.log');
          assert.ok(fs.existsSync(logFile), 'the plugin logged');
          assert.match((await a.exec(['nft', 'list', 'tables'])).stdout, /bridge bridgeway/);
          assert.deepEqual(await a.agentRoutes(6), [`${b.podCIDRv6} via ${b.eth1IPv6}`]);

          // Applied before the agent's DaemonSet was deleted: it waits and removes nothing.
          const un = startIn(a, ['uninstall', '--serve', ...args], uninstall);
          cluster.lab.track(un);
          await eventually(async () => uninstall.log.includes('waiting: 127.0.0.1:9099 is in use: the bridgeway agent still runs on this node'), 10_000, 'uninstall waiting for the agent');
          await new Promise((resolve) => setTimeout(resolve, 2500)); // past its next look at the address
          assert.ok(fs.existsSync(a.conflistPath), 'nothing removed while the agent runs');
          assert.equal(un.exitCode, null);

          await cluster.stopAgent(a);
          await eventually(async () => (await cluster.health(a, '/uninstalled')).status === 200, 20_000, '/uninstalled 200');
          assert.match(uninstall.log, /"msg":"uninstall finished: nothing of bridgeway is left on node node-0; this pod stays Ready until its DaemonSet is deleted"/);
          assert.equal((await cluster.health(a, '/readyz')).status, 404, 'it does not pretend to be the agent');

          // The Node object: our annotations and condition gone, everything else kept.
          assert.deepEqual(annotations(), { 'other.io/keep': 'yes' });
          assert.deepEqual(conditions(), ['Ready=True KubeletReady']);
          // The node.
          assert.ok(!fs.existsSync(logFile), 'the plugin log removed');
          assert.ok(!fs.existsSync(a.conflistPath) && !fs.existsSync(path.join(a.binDir, 'bridgeway')), 'conflist and plugin removed');
          assert.ok(!fs.existsSync(path.join(a.dir, 'ipam')), 'the IPAM state removed');
          assert.deepEqual(await a.agentRoutes(4), []);
          assert.deepEqual(await a.agentRoutes(6), []);
          for (const family of [4, 6] as const) assert.doesNotMatch(await a.iptablesSave(family), /BRIDGEWAY/, `ip${family === 6 ? '6' : ''}tables chains removed`);
          assert.doesNotMatch((await a.exec(['nft', 'list', 'tables'])).stdout, /bridge bridgeway/, 'the anti-spoofing table removed');
          assert.ok(!(await a.ipJson(['link', 'show'])).some((l) => l.ifname === 'cni0'), 'the bridge removed');

          // An agent started by mistake while the uninstall pod runs cannot reinstall anything.
          const stray = { log: '' };
          const again = startIn(a, args, stray);
          cluster.lab.track(again);
          assert.equal(await exited(again), 1, stray.log);
          assert.match(stray.log, /127\.0\.0\.1:9099 is in use: another bridgeway agent, or the uninstall DaemonSet \(bridgeway-uninstall\), runs on this node; not starting/);
          assert.ok(!fs.existsSync(a.conflistPath) && !fs.existsSync(path.join(a.binDir, 'bridgeway')), 'nothing reinstalled');
          assert.deepEqual(await a.agentRoutes(4), []);
          assert.equal((await cluster.health(a, '/uninstalled')).status, 200, 'still ready, still running');

          // Deleting the DaemonSet: SIGTERM, exit 0.
          un.kill('SIGTERM');
          assert.equal(await exited(un), 0, uninstall.log);
        } catch (error) {
          throw new Error(`${(error as Error).message}\nuninstall log:\n${uninstall.log}`, { cause: error });
        }
      });
    }, { dualStack: true }));
});
