// The standalone-mode report: tables 1-6 and its lines of the "Targets:" summary.
import os from 'node:os';
import { percentile } from '../support/stats.ts';
import type { Options } from './options.ts';
import type { StepTiming } from './phases.ts';
import { CHANGE_TARGET_MS, fmt, logSteps, mib, out, RSS_TARGET_MIB, table } from './report.ts';
import type { RunResult, SizeResult, SpawnRow } from './results.ts';

function medianRun(runs: readonly RunResult[]): RunResult {
  return [...runs].sort((a, b) => a.wallMs! - b.wallMs!)[Math.floor((runs.length - 1) / 2)]!;
}

/** Tables 1-6; returns its lines for the "Targets:" summary. */
export function reportStandalone(options: Options, results: SizeResult[], steps: StepTiming[], spawns: SpawnRow[], loadAtStart: number): { failures: string[]; targets: string[] } {
  const failures: string[] = [];
  const targets: string[] = [];
  const all = (r: SizeResult) => [r.onceCold, ...r.onceWarm, r.longCold, r.longWarm, r.longStub, r.longWarmJson];
  for (const r of results) {
    for (const run of all(r)) for (const p of run.routeProblems) failures.push(`${r.size} nodes, ${run.install}: ${p}`);
  }

  out(`\nbridgeway-agent, standalone (--nodes-file), one node namespace per run; ${os.cpus().length} CPUs, 1-min load ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end.`);
  out('cold = empty --cni-bin-dir (the agent copies the 111 MB plugin); warm = an identical copy is there; stub = a 1 KiB plugin;');
  out('warm JSON = warm, with the nodes file in JSON instead of YAML.\n');
  out('1. Convergence (ms from spawn). --once: to exit 0. Long-running: to the "routes changed" log line (routes are in the kernel) / to "wrote the CNI conflist" (ready).');
  out(table([
    ['nodes', 'routes', 'once cold', '(copy)', `once warm (med of ${options.onceRepeats})`, 'long cold', '(copy)', 'long warm', 'long stub', 'warm JSON', 'iptables -A'],
    ...results.map((r) => {
      const warm = r.onceWarm.map((w) => w.wallMs!);
      return [
        String(r.size),
        all(r).every((x) => x.routeProblems.length === 0) ? `${r.size - 1} ok` : 'WRONG',
        fmt(r.onceCold.wallMs), fmt(r.onceCold.installMs),
        `${fmt(percentile(warm, 50))} [${fmt(Math.min(...warm))}-${fmt(Math.max(...warm))}]`,
        `${fmt(r.longCold.routesMs)} / ${fmt(r.longCold.readyMs)}`, fmt(r.longCold.installMs),
        `${fmt(r.longWarm.routesMs)} / ${fmt(r.longWarm.readyMs)}`,
        `${fmt(r.longStub.routesMs)} / ${fmt(r.longStub.readyMs)}`,
        `${fmt(r.longWarmJson.routesMs)} / ${fmt(r.longWarmJson.readyMs)}`,
        [...new Set(all(r).map((x) => x.iptablesRules))].join('/'),
      ];
    }),
  ]));

  const withChanges = results.filter((r) => r.longWarm.changes.length > 0);
  if (withChanges.length) {
    out(`\n2. One node's eth1IP changed (atomic rename of the nodes file; ms from the rename; ${options.changes} changes; --resync 10m). Target: < ${CHANGE_TARGET_MS} ms.`);
    out('   warm = the real plugin, already installed; stub = a 1 KiB stand-in plugin; JSON = the nodes file in JSON (YAML otherwise).');
    out(table([
      ['nodes', 'plugin', 'kernel p50', 'kernel max', 'file loaded p50', 'logged p50', 'logged max'],
      ...withChanges.flatMap((r) => [r.longWarm, r.longStub, r.longWarmJson].filter((x) => x.changes.length).map((x) => {
        const c = x.changes;
        return [String(r.size), x.format === 'json' ? `${x.install}, JSON` : x.install, fmt(percentile(c.map((y) => y.kernelMs), 50)), fmt(Math.max(...c.map((y) => y.kernelMs))),
          fmt(percentile(c.map((y) => y.loadedMs), 50)), fmt(percentile(c.map((y) => y.loggedMs), 50)), fmt(Math.max(...c.map((y) => y.loggedMs)))];
      })),
    ]));
  }

  out(`\n3. Peak RSS of the agent process (VmHWM, MiB; --once polled every 5 ms). Target: < ${RSS_TARGET_MIB} MiB at 5,000 nodes.`);
  out(table([
    ['nodes', 'once cold', 'once warm', 'long cold', 'long warm', 'long stub', 'warm JSON', 'warm RSS after changes (anon+file)'],
    ...results.map((r) => [
      String(r.size), mib(r.onceCold.peak?.hwmKiB), mib(Math.max(...r.onceWarm.map((w) => w.peak?.hwmKiB ?? NaN))),
      mib(r.longCold.peak?.hwmKiB), mib(r.longWarm.peak?.hwmKiB), mib(r.longStub.peak?.hwmKiB), mib(r.longWarmJson.peak?.hwmKiB),
      (() => {
        const m = r.longWarm.afterChanges ?? r.longWarm.peak;
        return m ? `${mib(m.rssKiB)} (${mib(m.anonKiB)}+${mib(m.fileKiB)}), peak ${mib(m.hwmKiB)}` : '-';
      })(),
    ]),
  ]));

  out('\n4. Where the time goes, from the agent\'s log lines (ms since the previous line; --once runs: median warm run, and cold).');
  const columns = results.flatMap((r) => [{ label: `${r.size} warm`, steps: logSteps(medianRun(r.onceWarm)) }, { label: `${r.size} cold`, steps: logSteps(r.onceCold) }]);
  const keys = [...new Set(columns.flatMap((c) => [...c.steps.keys()]))];
  out(table([['step ending with the log line', ...columns.map((c) => c.label)], ...keys.map((k) => [k, ...columns.map((c) => fmt(c.steps.get(k)))])]));

  const biggest = Math.max(...options.sizes);
  out(`\n5. Each step alone at ${biggest} nodes (in-process: first call = cold JIT, then median; commands in a scratch node namespace).`);
  out(table([['step', 'first', 'median', 'note'], ...steps.map((s) => [s.step, fmt(s.firstMs), fmt(s.medianMs), s.note ?? ''])]));


  out('\n6. Spawning /bin/true from a Node process holding big buffers (libuv forks: the cost grows with the parent\'s memory; bench/agent-support/spawn-probe.ts).');
  out(table([['held MiB', 'spawn median ms'], ...spawns.map((s) => [s.heldMiB.toFixed(0), fmt(s.medianMs)])]));

  const big = results.find((r) => r.size === 5000) ?? results.at(-1)!;
  for (const r of withChanges) {
    const c = r.longWarm.changes.map((x) => x.kernelMs);
    const stub = r.longStub.changes.map((x) => x.kernelMs);
    const json = r.longWarmJson.changes.map((x) => x.kernelMs);
    const verdict = (samples: number[]) => (Math.max(...samples) < CHANGE_TARGET_MS ? 'met' : percentile(samples, 50) < CHANGE_TARGET_MS ? 'p50 met, max missed' : 'MISSED');
    targets.push(`change latency at ${r.size} nodes < ${CHANGE_TARGET_MS} ms: YAML nodes file p50 ${fmt(percentile(c, 50))}, max ${fmt(Math.max(...c))} -> ${verdict(c)}` +
      (json.length ? `; JSON nodes file p50 ${fmt(percentile(json, 50))}, max ${fmt(Math.max(...json))} -> ${verdict(json)}` : '') +
      (stub.length ? ` (stand-in plugin, YAML: p50 ${fmt(percentile(stub, 50))}, max ${fmt(Math.max(...stub))})` : ''));
  }
  const peaks = [big.onceCold.peak?.hwmKiB, ...big.onceWarm.map((w) => w.peak?.hwmKiB), big.longCold.peak?.hwmKiB, big.longWarm.peak?.hwmKiB].map((k) => k ?? NaN);
  const worst = Math.max(...peaks) / 1024;
  targets.push(`peak RSS at ${big.size} nodes < ${RSS_TARGET_MIB} MiB: worst ${worst.toFixed(0)} MiB with the real plugin, ${mib(big.longStub.peak?.hwmKiB)} MiB with the stand-in, ` +
    `${mib(big.longWarmJson.peak?.hwmKiB)} MiB with a JSON nodes file -> ${worst < RSS_TARGET_MIB ? 'met' : 'MISSED'}`);
  const rules = new Set(results.flatMap((r) => all(r).map((x) => x.iptablesRules)));
  targets.push(`iptables rules independent of N: ${[...rules].join(', ')} -> ${rules.size === 1 ? 'met' : 'MISSED'}`);
  targets.push(`routes exactly N-1 with the right gateways at every size: ${failures.length ? 'NO' : 'yes'}`);
  for (const f of failures) targets.push(`  ${f}`);
  return { failures, targets };
}
