// Percentiles and plain-text tables for the benchmark report.

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(1) : '-';
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : '-';
}

export type Align = 'left' | 'right';

/** Renders rows as aligned columns; the first row is the header. */
export function table(rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const render = (row: readonly string[]): string =>
    row
      .map((cell, i) => ((align[i] ?? 'right') === 'left' ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  if (!header) return '';
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [render(header), rule, ...body.map(render)].join('\n');
}

/** Where the middle half and all of the samples lie: what a median's reader needs to trust it. */
export interface Spread {
  median: number;
  /** Nearest-rank 25th and 75th percentiles. */
  q1: number;
  q3: number;
  min: number;
  max: number;
}

export function spread(samples: readonly number[]): Spread {
  return {
    median: median(samples),
    q1: percentile(samples, 25),
    q3: percentile(samples, 75),
    min: Math.min(...samples),
    max: Math.max(...samples),
  };
}

/** `0.99x (IQR 0.97-1.01, range 0.95-1.03)`: a ratio's median and how far its samples spread. */
export function ratioSpread(s: Spread): string {
  const r = (v: number) => v.toFixed(2);
  return `${ratio(s.median)} (IQR ${r(s.q1)}-${r(s.q3)}, range ${r(s.min)}-${r(s.max)})`;
}
