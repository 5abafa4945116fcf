// The agent builds side by side (--agents, e.g. Bun against Node): the figures the targets are
// about, one row per size and build, from the same run (the builds alternate at every size, so
// they share the machine's load).
import { percentile } from '../support/stats.ts';
import { fmt, mib, out, table } from './report.ts';
import type { KubeResult, SizeResult } from './results.ts';

export interface BuildResults {
  name: string;
  standalone: SizeResult[];
  kube: KubeResult[];
}

const latency = (samples: readonly { kernelMs: number }[]) => {
  const k = samples.map((c) => c.kernelMs);
  return k.length ? `${fmt(percentile(k, 50))} / ${fmt(Math.max(...k))}` : '-';
};

export function reportBuilds(builds: readonly BuildResults[]): void {
  if (builds.length < 2) return;
  out(`\nSide by side (${builds.map((b) => b.name).join(', ')}; alternating at every size):`);
  if (builds.some((b) => b.kube.length)) {
    out('\nKubernetes mode: convergence (ms to routes / ready), one change (kernel p50 / max ms), memory (MiB: VmHWM at convergence, overall; RSS anon+file at the end), agent CPU to ready (ms).');
    out(table([
      ['nodes', 'build', 'converge', 'change p50 / max', 'peak at conv.', 'peak overall', 'RSS at end', 'agent CPU ms'],
      ...builds[0]!.kube.flatMap((_, i) => builds.map((b) => {
        const r = b.kube[i]!;
        const end = r.afterNoise ?? r.afterChanges;
        return [String(r.size), b.name, `${fmt(r.routesMs)} / ${fmt(r.readyMs)}`, latency(r.changes), mib(r.peak?.hwmKiB),
          mib((r.afterNoise ?? r.afterChanges ?? r.peak)?.hwmKiB), end ? `${mib(end.rssKiB)} (${mib(end.anonKiB)}+${mib(end.fileKiB)})` : '-', r.agentCpuMs === undefined ? '-' : r.agentCpuMs.toFixed(0)];
      })),
    ]));
  }
  if (builds.some((b) => b.standalone.length)) {
    out('\nStandalone mode, long-running, warm install, YAML nodes file: convergence (ms to routes / ready), one change (kernel p50 / max ms), memory (MiB).');
    out(table([
      ['nodes', 'build', 'converge', 'change p50 / max', 'JSON change p50 / max', 'peak at conv.', 'peak overall', 'RSS after changes'],
      ...builds[0]!.standalone.flatMap((_, i) => builds.map((b) => {
        const r = b.standalone[i]!;
        const w = r.longWarm;
        return [String(r.size), b.name, `${fmt(w.routesMs)} / ${fmt(w.readyMs)}`, latency(w.changes), latency(r.longWarmJson.changes), mib(w.peak?.hwmKiB),
          mib((w.afterChanges ?? w.peak)?.hwmKiB), w.afterChanges ? `${mib(w.afterChanges.rssKiB)} (${mib(w.afterChanges.anonKiB)}+${mib(w.afterChanges.fileKiB)})` : '-'];
      })),
    ]));
  }
}
