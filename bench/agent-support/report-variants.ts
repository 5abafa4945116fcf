// Kubernetes mode's NetworkPolicy variants side by side (--policies 1000,0,off): table K6, one
// row per run, and K7, each pair of variants as the median of its per-repeat ratios (the variants
// take turns at every size, so each ratio compares runs a few seconds apart under the same load).
import os from 'node:os';
import { median, percentile } from '../support/stats.ts';
import type { BuildResults } from './report-builds.ts';
import { fmt, mib, out, table } from './report.ts';
import type { ChangeCpu, KubeResult } from './results.ts';

const mean = (samples: readonly number[]) => (samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : NaN);
const perChange = (c: ChangeCpu | undefined) => (c && c.cpuMs.length ? mean(c.cpuMs) : NaN);
const applied = (c: ChangeCpu | undefined) => (c && c.applyMs.length ? `${fmt(percentile(c.applyMs, 50))} / ${fmt(Math.max(...c.applyMs))}` : '-');

/** The figures K6 and K7 compare, per run. */
const FIGURES: { name: string; of: (r: KubeResult) => number | undefined }[] = [
  { name: 'peak at convergence (VmHWM MiB)', of: (r) => r.peak && r.peak.hwmKiB / 1024 },
  { name: 'peak overall (VmHWM MiB)', of: (r) => (r.steady ?? r.afterNoise ?? r.peak) && (r.steady ?? r.afterNoise ?? r.peak)!.hwmKiB / 1024 },
  { name: 'steady RSS at the end (MiB)', of: (r) => r.steady && r.steady.rssKiB / 1024 },
  { name: 'steady RSS, anon only (MiB)', of: (r) => r.steady && r.steady.anonKiB / 1024 },
  { name: 'agent CPU to table loaded / ready (ms)', of: (r) => r.agentCpuMs },
  { name: 'agent CPU per Pod relabel (ms)', of: (r) => perChange(r.changeCpu.relabel) },
  { name: 'agent CPU per policy edit (ms)', of: (r) => perChange(r.changeCpu.policyEdit) },
];

export function reportVariants(builds: readonly BuildResults[]): void {
  if (builds.length < 2 || !builds.every((b) => b.kube.length === builds[0]!.kube.length)) return;
  out(`\nK6. NetworkPolicy variants, one agent each, taking turns at every size (${builds.map((b) => b.name).join(', ')}); ${os.cpus().length} CPUs, 1-min load ${os.loadavg()[0]!.toFixed(2)} now.`);
  out('    CPU: utime+stime of the agent (10 ms ticks). Per change: from the API write until bridgeway_policy_applies_total moved, +300 ms (off: 500 ms +300 ms);');
  out('    the mean of the changes. applied: ms from the write until /metrics showed the apply (polled, ~50 ms a poll), p50 / max.');
  out(table([
    ['nodes', 'run', 'pods', 'policies', 'table loaded ms', 'peak conv.', 'peak overall', 'steady RSS (anon+file)', 'CPU to loaded ms', 'CPU total ms', 'CPU/relabel ms', 'applied', 'CPU/policy edit ms', 'applied'],
    ...builds[0]!.kube.flatMap((_, i) => builds.map((b) => {
      const r = b.kube[i]!;
      return [String(r.size), b.name, String(r.pods), r.enforce ? String(r.policies) : `off (${r.policies})`, r.enforce ? fmt(r.policyMs) : '-', mib(r.peak?.hwmKiB),
        mib((r.steady ?? r.afterNoise ?? r.peak)?.hwmKiB), r.steady ? `${mib(r.steady.rssKiB)} (${mib(r.steady.anonKiB)}+${mib(r.steady.fileKiB)})` : '-',
        r.agentCpuMs === undefined ? '-' : r.agentCpuMs.toFixed(0), r.cpuAtEndMs === undefined ? '-' : r.cpuAtEndMs.toFixed(0),
        fmt(perChange(r.changeCpu.relabel)), applied(r.changeCpu.relabel), fmt(perChange(r.changeCpu.policyEdit)), applied(r.changeCpu.policyEdit)];
    })),
  ]));
  const sizes = [...new Set(builds[0]!.kube.map((r) => r.size))];
  for (const size of sizes) {
    const runs = builds.map((b) => b.kube.filter((r) => r.size === size));
    out(`\nK7. ${size} nodes: medians over the ${runs[0]!.length} turns, and each pair's per-turn ratio as median (min-max).`);
    const pairs = builds.flatMap((_, i) => builds.slice(i + 1).map((_b, j) => [i, i + 1 + j] as const));
    out(table([
      ['figure', ...builds.map((b) => b.name), ...pairs.map(([i, j]) => `${builds[i]!.name} / ${builds[j]!.name}`)],
      ...FIGURES.map((f) => {
        const values = runs.map((list) => list.map((r) => f.of(r) ?? NaN));
        return [f.name, ...values.map((v) => fmt(median(v.filter(Number.isFinite)))), ...pairs.map(([i, j]) => {
          const ratios = values[i]!.map((v, k) => v / values[j]![k]!).filter(Number.isFinite);
          return ratios.length ? `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})` : '-';
        })];
      }),
    ]));
  }
}
