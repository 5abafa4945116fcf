// The Kubernetes-mode report: tables K1-K5 and its lines of the "Targets:" summary.
import os from 'node:os';
import { ETH1_ANNOTATION } from '../../lib/names.ts';
import { percentile } from '../support/stats.ts';
import type { MemoryStatus } from './agent-process.ts';
import type { Options } from './options.ts';
import { CHANGE_TARGET_MS, CONVERGE_TARGET_MS, fmt, kib, logSteps, mib, out, RSS_TARGET_MIB, table, verdict } from './report.ts';
import type { KubeResult } from './results.ts';

/** Tables K1-K4 (Kubernetes mode); returns its lines for the "Targets:" summary. */
export function reportKube(options: Options, results: KubeResult[]): { failures: string[]; targets: string[] } {
  const failures = results.flatMap((r) => r.routeProblems.map((p) => `kube, ${r.size} nodes: ${p}`));
  const targets: string[] = [];
  const avgNode = results.reduce((a, r) => a + r.nodeBytes * r.size, 0) / results.reduce((a, r) => a + r.size, 0);
  out(`\nbridgeway-agent, Kubernetes mode (--kubeconfig): the fake API server runs in the benchmark process and is relayed into the node namespace`);
  out(`(127.0.0.1:<port> -> Unix socket -> here); Nodes shaped like kubelet's (labels, annotations, managedFields, conditions, 25 images):`);
  out(`${kib(avgNode)} KiB of JSON per Node on average. Real plugin already installed (warm); --resync 10m. ${os.cpus().length} CPUs, 1-min load ${os.loadavg()[0]!.toFixed(2)} now.\n`);
  out('K1. Convergence (ms from spawn): to the "routes changed" log line (routes are in the kernel) / to "wrote the CNI conflist" (ready).');
  out('    CPU time from spawn to ready: the agent\'s, and the benchmark process\'s (the fake API server encoding the list, our end of the relay),');
  out('    which competes with the agent for the same CPUs (a real API server runs elsewhere).');
  out(table([
    ['nodes', 'routes', 'KiB per Node', 'list MiB', 'routes changed', 'conflist', 'agent CPU ms', 'bench CPU ms', 'iptables -A'],
    ...results.map((r) => [String(r.size), r.routeProblems.length ? 'WRONG' : `${r.size - 1} ok`, kib(r.nodeBytes), (r.listBytes / 1048576).toFixed(1),
      fmt(r.routesMs), fmt(r.readyMs), r.agentCpuMs === undefined ? '-' : r.agentCpuMs.toFixed(0), r.benchCpuMs.toFixed(0), String(r.iptablesRules)]),
  ]));
  const withChanges = results.filter((r) => r.changes.length);
  if (withChanges.length) {
    out(`\nK2. One Node's ${ETH1_ANNOTATION} changed (the fake API server writes the MODIFIED watch event; ms from just before that; ${options.changes} changes). Target: < ${CHANGE_TARGET_MS} ms.`);
    out(table([
      ['nodes', 'kernel p50', 'kernel max', 'logged p50', 'logged max', `syncs for ${options.changes} changes`],
      ...withChanges.map((r) => {
        const k = r.changes.map((c) => c.kernelMs);
        const l = r.changes.map((c) => c.loggedMs);
        return [String(r.size), fmt(percentile(k, 50)), fmt(Math.max(...k)), fmt(percentile(l, 50)), fmt(Math.max(...l)), r.changeSyncs === undefined ? '-' : String(r.changeSyncs)];
      }),
    ]));
  }
  out(`\nK1b. NetworkPolicy: Pods (kubelet-shaped, ~5 KiB of JSON each; --pods-per-node ${options.podsPerNode}), 10 Namespaces and NetworkPolicies served beside the Nodes;`);
  out('    ms from spawn until /metrics counts every policy compiled and the table loaded (bridgeway_policy_enforcement_ready 1).');
  out(table([
    ['nodes', 'pods', 'policies', 'table loaded'],
    ...results.map((r) => [String(r.size), String(r.pods), String(r.policies), !r.enforce ? 'off' : r.policies === 0 ? '-' : r.policyMs === undefined ? 'NOT WITHIN 60 s' : fmt(r.policyMs)]),
  ]));
  const withPolicyChanges = results.filter((r) => r.policyChanges.length);
  if (withPolicyChanges.length) {
    out(`\nK1c. One Pod of this node relabelled (it gains or loses egress isolation by a policy): ms from the fake API server's MODIFIED event until`);
    out(`    \`nft -j list map ... from_pod4\` (polled, ~10-20 ms apart) shows its element come or go (${options.changes} changes, 300 ms apart; 75 ms of each is the agent's debounce). Target: p99 < 1000 ms.`);
    out(table([
      ['nodes', 'pods', 'p50', 'max'],
      ...withPolicyChanges.map((r) => [String(r.size), String(r.pods), fmt(percentile(r.policyChanges, 50)), fmt(Math.max(...r.policyChanges))]),
    ]));
  }
  out(`\nK3. Memory of the agent process (MiB). Target: < ${RSS_TARGET_MIB} MiB at 5,000 nodes (with the Pods of K1b).`);
  const rss = (m: MemoryStatus | undefined) => (m ? `${mib(m.rssKiB)} (${mib(m.anonKiB)}+${mib(m.fileKiB)})` : '-');
  out(table([
    ['nodes', 'peak at convergence (VmHWM)', 'RSS after the changes (anon+file)', 'RSS after the status updates', 'peak overall (VmHWM)'],
    ...results.map((r) => [String(r.size), mib(r.peak?.hwmKiB), rss(r.afterChanges), rss(r.afterNoise), mib((r.afterNoise ?? r.afterChanges ?? r.peak)?.hwmKiB)]),
  ]));
  const withNoise = results.filter((r) => r.noise.updates);
  if (withNoise.length) {
    out(`\nK4. Status-only updates (kubelet heartbeats: every condition's lastHeartbeatTime; image pulls: status.images), alternating, 300 ms apart, one Node each.`);
    out('   Nothing routable changes: ideally no sync. syncs = bridgeway_syncs_total from the agent\'s /metrics, after minus before.');
    out(table([
      ['nodes', 'updates', 'syncs caused', '"routes changed" logged', 'agent log lines', 'agent CPU ms'],
      ...withNoise.map((r) => [String(r.size), String(r.noise.updates), r.noise.syncs === undefined ? '? (/metrics unreachable)' : String(r.noise.syncs),
        String(r.noise.routesLogged), String(r.noise.logLines), r.noise.cpuMs === undefined ? '-' : r.noise.cpuMs.toFixed(0)]),
    ]));
  }

  out('\nK5. Where the start-up goes, from the agent\'s log lines up to "wrote the CNI conflist" (ms since the previous line). The Node list is fetched');
  out('    while the first lines are logged; "own podCIDR known" comes from the first sync that sees it.');
  const columns = results.map((r) => ({ label: `${r.size}`, steps: logSteps({ lines: r.lines.filter((l) => l.t <= r.readyMs) }) }));
  const keys = [...new Set(columns.flatMap((c) => [...c.steps.keys()]))];
  out(table([['step ending with the log line', ...columns.map((c) => c.label)], ...keys.map((k) => [k, ...columns.map((c) => fmt(c.steps.get(k)))])]));

  for (const r of results) {
    targets.push(`kube: ${r.size} nodes converge in < ${CONVERGE_TARGET_MS} ms: ${fmt(r.routesMs)} ms to the routes, ${fmt(r.readyMs)} ms to ready -> ${r.readyMs < CONVERGE_TARGET_MS ? 'met' : 'MISSED'}`);
  }
  for (const r of withChanges) {
    const k = r.changes.map((c) => c.kernelMs);
    targets.push(`kube: change latency at ${r.size} nodes < ${CHANGE_TARGET_MS} ms: p50 ${fmt(percentile(k, 50))}, max ${fmt(Math.max(...k))} -> ${verdict(percentile(k, 50), Math.max(...k), CHANGE_TARGET_MS)}`);
  }
  for (const r of withPolicyChanges) {
    const p = r.policyChanges;
    targets.push(`kube: NetworkPolicy change to the kernel at ${r.pods} pods, p99 < 1000 ms: p50 ${fmt(percentile(p, 50))}, max ${fmt(Math.max(...p))} (${p.length} changes: max is the p99) -> ${Math.max(...p) < 1000 ? 'met' : 'MISSED'}`);
  }
  const big = results.find((r) => r.size === 5000) ?? results.at(-1)!;
  const peakMiB = ((big.afterNoise ?? big.afterChanges ?? big.peak)?.hwmKiB ?? NaN) / 1024;
  const after = big.afterNoise ?? big.afterChanges;
  targets.push(`kube: RSS at ${big.size} nodes < ${RSS_TARGET_MIB} MiB: peak ${peakMiB.toFixed(0)} MiB (at convergence ${mib(big.peak?.hwmKiB)}), ` +
    `${after ? `${mib(after.rssKiB)} MiB after the updates` : 'no updates run'} -> ${peakMiB < RSS_TARGET_MIB ? 'met' : 'MISSED'}`);
  for (const r of withNoise) {
    targets.push(`kube: syncs caused by ${r.noise.updates} status-only updates at ${r.size} nodes: ${r.noise.syncs ?? '? (/metrics unreachable)'}` +
      ` (${r.noise.routesLogged} "routes changed"; ideally 0 syncs)` + (r.changeSyncs !== undefined ? `; ${r.changeSyncs} for ${r.changes.length} eth1-ip changes` : ''));
  }
  targets.push(`kube: routes exactly N-1 with the right gateways at every size: ${failures.length ? 'NO' : 'yes'}`);
  for (const f of failures) targets.push(`  ${f}`);
  return { failures, targets };
}
