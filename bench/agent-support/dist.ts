// The executables bench:agent measures: dist/ of this checkout (or BENCH_AGENT_BINARY), built
// when missing.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
// BENCH_AGENT_BINARY: another build of the agent to measure (e.g. a Bun one, bench/AGENT.md).
export const DIST_AGENT = process.env.BENCH_AGENT_BINARY ?? path.join(ROOT, 'dist/bridgeway-agent');
export const DIST_PLUGIN = path.join(ROOT, 'dist/bridgeway');

/** Builds dist/ when missing; warns (without rebuilding: others may be using dist/) when stale. */
export function ensureBuilt(): void {
  if (!fs.existsSync(DIST_AGENT) || !fs.existsSync(DIST_PLUGIN)) {
    process.stderr.write('dist/ is missing: npm run build\n');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.ts')], { stdio: 'inherit', cwd: ROOT });
    return;
  }
  const built = fs.statSync(DIST_AGENT).mtimeMs;
  const newer = ['daemonset', 'lib']
    .flatMap((dir) => fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)))
    .filter((f) => f.endsWith('.ts') && fs.statSync(path.join(ROOT, f)).mtimeMs > built);
  if (newer.length) process.stderr.write(`warning: dist/bridgeway-agent is older than ${newer.join(', ')}: run npm run build for current numbers\n`);
}
