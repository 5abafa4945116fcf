// Kubernetes mode (--kubeconfig) at one size: convergence against the fake API server, one
// Node's eth1-ip annotation changed at a time (watch event -> route), and how many syncs
// status-only updates (kubelet heartbeats, image pulls) cause; with Pods, Namespaces and
// NetworkPolicies served too (kube-pods.ts, kube-policies.ts), how long until the policy table is
// loaded, and the agent's CPU per Pod relabel and per NetworkPolicy edit.
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../../test/support/poll.ts';
import { ETH1_ANNOTATION } from '../../lib/names.ts';
import { relayInto, type ApiRelay } from '../../test/support/api-relay.ts';
import { startFakeApiServer, type JsonObject } from '../../test/support/fake-apiserver.ts';
import { AgentProcess, RouteMonitor } from './agent-process.ts';
import { kubeClusterOf, statusNoise } from './kube-nodes.ts';
import { appsOf, kubeNamespaces, kubePodsOf, selfPod } from './kube-pods.ts';
import { kubePoliciesAtScale, policyEditOf, type PolicyVariant } from './kube-policies.ts';
import type { NodeNetns } from './lab.ts';
import { movePeer, type NodeSpec } from './nodes.ts';
import type { ChangeCpu, KubeResult } from './results.ts';
import { cpuMsOf, stopAgent, type AgentRuns } from './runs.ts';

/**
 * Kubernetes mode: the fake API server in this process with the N Nodes, relayed into a fresh
 * node namespace; the agent with --kubeconfig and the real plugin already installed (warm).
 */
export async function measureKube(runs: AgentRuns, specs: readonly NodeSpec[], changes: number, podsPerNode: number, variant: PolicyVariant = { name: '20', policies: 20, enforce: true }): Promise<KubeResult> {
  const objects = kubeClusterOf(specs);
  const sizes = objects.map((o) => Buffer.byteLength(JSON.stringify(o)));
  const api = await startFakeApiServer(objects);
  const pods = kubePodsOf(specs, podsPerNode);
  const policies = podsPerNode > 0 ? kubePoliciesAtScale(variant.policies) : [];
  for (const ns of kubeNamespaces()) api.addObject('namespaces', ns);
  for (const pod of pods) api.addObject('pods', pod);
  for (const policy of policies) api.addObject('networkpolicies', policy);
  const forgetApiDir = runs.lab.onCleanup(() => fs.rmSync(path.dirname(api.kubeconfig), { recursive: true, force: true }));
  let node: NodeNetns | undefined;
  let relay: ApiRelay | undefined;
  let dir: string | undefined;
  let agent: AgentProcess | undefined;
  let monitor: RouteMonitor | undefined;
  try {
    node = await runs.lab.addNode();
    relay = await relayInto(node.path, runs.lab.mkdir('api'), api, (child) => runs.lab.track(child));
    const prepared = runs.prepare('warm', api.kubeconfig);
    dir = prepared.dir;
    const benchCpu = process.cpuUsage();
    const env = variant.enforce ? prepared.env : { ...prepared.env, BRIDGEWAY_NETWORK_POLICY: 'false' };
    agent = new AgentProcess(runs.lab, node, runs.agent, prepared.args([]), env);
    const routes = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { timeoutMs: 120_000 });
    const ready = await agent.waitForLog((l) => l.msg === 'wrote the CNI conflist', 'wrote the CNI conflist', { timeoutMs: 120_000 });
    // The policy table: loaded once /metrics counts every policy (its compile follows the lists).
    let policyMs: number | undefined;
    const policyDeadline = performance.now() + 60_000;
    while (variant.enforce && performance.now() < policyDeadline) {
      const text = await runs.metrics(node);
      if (text !== undefined && new RegExp(`^bridgeway_policy_policies ${policies.length}$`, 'm').test(text) && /^bridgeway_policy_enforcement_ready 1$/m.test(text)) {
        policyMs = performance.now() - agent.t0;
        break;
      }
      await sleep(50);
    }
    const peak = agent.memory();
    const agentPid = agent.agentPid();
    const agentCpuMs = agentPid === undefined ? undefined : cpuMsOf(agentPid);
    const benchCpuUsed = process.cpuUsage(benchCpu);
    const checked = await runs.check(node, specs, agent.log.lines);
    const result: KubeResult = {
      agentCpuMs, benchCpuMs: (benchCpuUsed.user + benchCpuUsed.system) / 1000,
      size: specs.length, pods: pods.length, policies: policies.length, enforce: variant.enforce, variant: variant.name, policyMs, policyChanges: [], nodeBytes: sizes.reduce((a, b) => a + b, 0) / sizes.length, listBytes: sizes.reduce((a, b) => a + b, 0),
      lines: agent.log.lines, routesMs: routes.t, readyMs: ready.t, peak, changes: [], changeCpu: {},
      noise: { updates: 0, routesLogged: 0, logLines: 0 }, ...checked,
    };
    if (checked.routeProblems.length || changes === 0) return result;

    // Changes go out as watch events: wait for the watch, and for the syncs of the start-up
    // (the agent's own writes to its Node come back as events) to be over.
    const deadline = performance.now() + 10_000;
    while (api.openWatches() === 0 && performance.now() < deadline) await sleep(20);
    if (api.openWatches() === 0) throw new Error(`kube, ${specs.length} nodes: the agent opened no watch:\n${agent.logText()}`);
    const syncsBefore = await runs.quietSyncCount(node);
    monitor = new RouteMonitor(runs.lab, node);
    await monitor.ready(runs.lab, node);

    const current = specs.map((s) => ({ ...s }));
    for (let rep = 0; rep < changes; rep++) {
      const changed = movePeer(current, rep);
      const ip = changed.eth1IP;
      const t0 = performance.now();
      api.modifyNode(changed.name, (n) => {
        ((n.metadata as JsonObject).annotations as JsonObject)[ETH1_ANNOTATION] = ip;
      });
      const event = await monitor.waitFor((l) => l.text.startsWith(`${changed.podCIDR} via ${ip} `), `${changed.podCIDR} via ${ip}`, { since: t0, timeoutMs: 10_000 });
      const logged = await agent.waitForLog((l) => l.msg === 'routes changed', 'routes changed', { since: t0, timeoutMs: 10_000 });
      result.changes.push({ kernelMs: event.at - t0, loadedMs: NaN, loggedMs: logged.at - t0 });
      await sleep(400); // the rest of the sync (iptables-save, conflist check) finishes
    }
    result.afterChanges = agent.memory();
    const syncsAfterChanges = await runs.quietSyncCount(node);
    if (syncsBefore !== undefined && syncsAfterChanges !== undefined) result.changeSyncs = syncsAfterChanges - syncsBefore;

    // Status-only updates, what kubelets send all the time: nothing the agent routes by changes.
    const pid = agent.agentPid();
    const cpuBefore = pid === undefined ? undefined : cpuMsOf(pid);
    const noiseStart = performance.now();
    for (let rep = 0; rep < changes; rep++) {
      const k = 1 + ((rep * 104_729 + 7) % (current.length - 1));
      api.modifyNode(current[k]!.name, (n) => void statusNoise(n, rep));
      await sleep(300);
    }
    const syncsAfterNoise = await runs.quietSyncCount(node);
    const cpuAfter = pid === undefined ? undefined : cpuMsOf(pid);
    const during = agent.log.lines.filter((l) => l.at >= noiseStart);
    result.noise = {
      updates: changes,
      syncs: syncsAfterChanges !== undefined && syncsAfterNoise !== undefined ? syncsAfterNoise - syncsAfterChanges : undefined,
      routesLogged: during.filter((l) => l.msg === 'routes changed').length,
      logLines: during.length,
      cpuMs: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
    };
    result.afterNoise = agent.memory();

    // NetworkPolicy: this node's Pod relabelled back and forth between an app its namespace's
    // allow-api policy selects (egress-isolated: an element of from_pod4) and one it does not,
    // timed from the API write until `nft -j list map` shows the element come or go (polled: one
    // nft process at a time, ~10-20 ms apart; `nft monitor` of nft 1.0.6 crashes on this table's
    // concatenated interval maps).
    if (variant.enforce && policies.length > 0 && policyMs !== undefined) {
      const self = selfPod(specs);
      const apps = appsOf(0);
      const listed = async () => (await runs.lab.inNetns(node!, ['nft', '-j', 'list', 'map', 'inet', 'bridgeway_policy', 'from_pod4'])).stdout.includes(`"${self.ip}"`);
      for (let rep = 0; rep < changes; rep++) {
        const app = rep % 2 === 0 ? (self.app === apps.selected ? apps.other : apps.selected) : self.app;
        const before = await listed();
        const t0 = performance.now();
        api.modifyObject('pods', self.key, (p) => void (((p.metadata as JsonObject).labels as JsonObject).app = app));
        while ((await listed()) === before) {
          if (performance.now() - t0 > 10_000) throw new Error(`kube, ${specs.length} nodes: pod ${self.key} relabelled ${app}: from_pod4 unchanged after 10 s:\n${agent.logText()}`);
        }
        result.policyChanges.push(performance.now() - t0);
        await sleep(300);
      }
    }
    if (podsPerNode > 0) {
      // The agent's CPU per change: the same Pod relabelled, then (when served) one policy that
      // selects it edited, each change timed until bridgeway_policy_applies_total moves (with
      // enforcement off: a fixed 500 ms), then 300 ms more (the collection after an apply).
      const self = selfPod(specs);
      const apps = appsOf(0);
      // Toggled from what is served (K1c may have left either app): every write is a real change.
      result.changeCpu.relabel = await cpuPerChange(runs, node, agent, variant.enforce, changes, () =>
        api.modifyObject('pods', self.key, (p) => {
          const labels = (p.metadata as JsonObject).labels as JsonObject;
          labels.app = labels.app === apps.selected ? apps.other : apps.selected;
        }));
      const edit = policyEditOf(policies.length);
      if (edit) result.changeCpu.policyEdit = await cpuPerChange(runs, node, agent, variant.enforce, changes, () => api.modifyObject('networkpolicies', edit.key, edit.edit));
    }
    result.steady = agent.memory();
    result.cpuAtEndMs = (() => {
      const pid = agent.agentPid();
      return pid === undefined ? undefined : cpuMsOf(pid);
    })();
    result.routeProblems = (await runs.routeProblems(node, current)).map((p) => `after the changes: ${p}`);
    return result;
  } finally {
    monitor?.stop();
    await stopAgent(agent);
    relay?.close();
    await api.close();
    forgetApiDir();
    if (node) await runs.lab.removeNode(node);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Sum of bridgeway_policy_applies_total over its labels (0 while it has none). */
async function appliesOf(runs: AgentRuns, node: NodeNetns): Promise<number | undefined> {
  const text = await runs.metrics(node);
  if (text === undefined) return undefined;
  return [...text.matchAll(/^bridgeway_policy_applies_total(?:\{[^}]*\})? (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

/** `count` changes made by `change(rep)`, one at a time: the agent's CPU for each, and ms until its apply. */
async function cpuPerChange(runs: AgentRuns, node: NodeNetns, agent: AgentProcess, enforce: boolean, count: number, change: () => void): Promise<ChangeCpu> {
  const pid = agent.agentPid();
  const samples: ChangeCpu = { cpuMs: [], applyMs: [] };
  if (pid === undefined) return samples;
  await sleep(500);
  for (let rep = 0; rep < count; rep++) {
    const applies = enforce ? await appliesOf(runs, node) : undefined;
    const cpu0 = cpuMsOf(pid);
    const t0 = performance.now();
    change();
    if (enforce) {
      while ((await appliesOf(runs, node) ?? -1) <= (applies ?? -1)) {
        if (performance.now() - t0 > 10_000) throw new Error(`change ${rep}: bridgeway_policy_applies_total did not move in 10 s:\n${agent.logText().slice(-4000)}`);
        await sleep(10);
      }
      samples.applyMs.push(performance.now() - t0);
    } else {
      await sleep(500);
    }
    await sleep(300);
    const cpu1 = cpuMsOf(pid);
    if (cpu0 !== undefined && cpu1 !== undefined) samples.cpuMs.push(cpu1 - cpu0);
  }
  return samples;
}
