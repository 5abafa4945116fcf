// bench:agent's command line: which sizes, how many changes, how many --once repeats, which
// modes; each also from its BENCH_AGENT_* environment variable.
import { parseArgs } from 'node:util';

export const MODES = ['standalone', 'kube'] as const;
export type Mode = (typeof MODES)[number];

export interface Options {
  sizes: number[];
  changes: number;
  onceRepeats: number;
  modes: Mode[];
}

export function parseOptions(): Options {
  const { values } = parseArgs({
    options: { sizes: { type: 'string' }, changes: { type: 'string' }, 'once-repeats': { type: 'string' }, modes: { type: 'string' } },
  });
  const env = process.env;
  const sizes = (values.sizes ?? env.BENCH_AGENT_SIZES ?? '10,1000,5000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 65_000)) throw new Error('--sizes: integers between 2 and 65000');
  const changes = Number(values.changes ?? env.BENCH_AGENT_CHANGES ?? '10');
  const onceRepeats = Number(values['once-repeats'] ?? env.BENCH_AGENT_ONCE_REPEATS ?? '3');
  if (!Number.isInteger(changes) || changes < 0) throw new Error('--changes: a non-negative integer');
  if (!Number.isInteger(onceRepeats) || onceRepeats < 1) throw new Error('--once-repeats: a positive integer');
  const modes = (values.modes ?? env.BENCH_AGENT_MODES ?? MODES.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
  const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
  if (unknown.length || modes.length === 0) throw new Error(`--modes: a comma-separated subset of ${MODES.join(',')} (got ${unknown.join(',') || 'nothing'})`);
  return { sizes, changes, onceRepeats, modes: MODES.filter((m) => modes.includes(m)) };
}
