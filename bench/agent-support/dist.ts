// The executables bench:agent measures. `bun`: dist/bridgeway of this checkout, the one executable
// the image ships (run as bridgeway-agent); `node`: the same code as a Node single executable
// (`node scripts/build.ts --node-agent bench/.work/node`: not shipped, built here when missing or
// older than the sources), to compare the runtimes; or any file given as name=path. The plugin the
// agent installs is always dist/bridgeway, so both runtimes do the same work.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { AgentBuild } from './options.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DIST_PLUGIN = path.join(ROOT, 'dist/bridgeway');
const NODE_BUILD_DIR = path.join(ROOT, 'bench/.work/node');
const SOURCES = ['bin', 'cni', 'daemonset', 'lib', 'ipam'];

function sourcesNewerThan(file: string): string[] {
  const built = fs.statSync(file).mtimeMs;
  return SOURCES
    .flatMap((dir) => fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)))
    .filter((f) => f.endsWith('.ts') && fs.statSync(path.join(ROOT, f)).mtimeMs > built);
}

function build(args: string[]): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.ts'), ...args], { stdio: 'inherit', cwd: ROOT });
}

/**
 * The file of each build, built when missing. dist/ is only warned about when stale (others may
 * be using it); the bench's own Node build is rebuilt.
 */
export function ensureBuilt(agents: readonly AgentBuild[]): Map<string, string> {
  if (!fs.existsSync(DIST_PLUGIN)) {
    process.stderr.write('dist/ is missing: npm run build\n');
    build([]);
  }
  const stale = sourcesNewerThan(DIST_PLUGIN);
  if (stale.length) process.stderr.write(`warning: dist/bridgeway is older than ${stale.join(', ')}: run npm run build for current numbers\n`);
  const files = new Map<string, string>();
  for (const agent of agents) {
    if (agent.file) files.set(agent.name, path.resolve(agent.file));
    else if (agent.name === 'bun') files.set('bun', DIST_PLUGIN);
    else {
      const file = path.join(NODE_BUILD_DIR, 'bridgeway');
      if (!fs.existsSync(file) || sourcesNewerThan(file).length) {
        process.stderr.write('building the Node agent for comparison (bench/.work/node) ...\n');
        build(['--node-agent', NODE_BUILD_DIR]);
      }
      files.set('node', file);
    }
  }
  return files;
}
