// The report's shared pieces: the targets, number formats, the table layout, and the log-line
// breakdown of where a run's time went.
import type { LogLine } from './agent-process.ts';

export const CHANGE_TARGET_MS = 100;
export const RSS_TARGET_MIB = 100;
export const CONVERGE_TARGET_MS = 5000;

export const fmt = (ms: number | undefined) => (ms === undefined || !Number.isFinite(ms) ? '-' : ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
export const mib = (kib: number | undefined) => (kib === undefined || !Number.isFinite(kib) ? '-' : (kib / 1024).toFixed(0));

export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const render = (row: readonly string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [render(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(render)].join('\n');
}

export const verdict = (p50: number, max: number, target: number) => (max < target ? 'met' : p50 < target ? 'p50 met, max missed' : 'MISSED');
export const kib = (bytes: number) => (bytes / 1024).toFixed(1);

export const out = (text = '') => process.stdout.write(text + '\n');

/** ms between consecutive log lines of a run, keyed by the line that ends the step. */
export function logSteps(result: { lines: readonly LogLine[]; wallMs?: number }): Map<string, number> {
  const steps = new Map<string, number>();
  let previous = 0;
  for (const line of result.lines) {
    const key = line.msg.startsWith('using iptables-') ? 'using iptables-<mode>' : line.msg;
    steps.set(key, (steps.get(key) ?? 0) + line.t - previous);
    previous = line.t;
  }
  if (result.wallMs !== undefined) steps.set('(process exit)', result.wallMs - previous);
  return steps;
}
