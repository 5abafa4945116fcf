// Builds a Bun single-file executable: esbuild's ES-module bundle, split at dynamic imports
// (bundle.ts's bundleSplit, with the forbidden-module checks), compiled by the Bun from the `bun`
// devDependency with bytecode and --splitting, so nothing is parsed at start and a dynamically
// imported chunk (the agent, in the one executable) is embedded but loaded only when imported.
// The plugin runs on Bun because its start-up is paid on every pod start: ~5 ms for an empty
// Bun executable against ~30 ms for Node's (docs/architecture.md). Bun bundling cni/main.ts
// itself started no faster (VERSION 23.2 vs 24.4 ms, 200 interleaved runs), so esbuild stays the
// one bundler.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { bundleSplit, type ExecutableSpec } from './bundle.ts';

const require = createRequire(import.meta.url);

/** The Bun binary of the `bun` devDependency (its postinstall moves it into place). */
export function bunBinary(): string {
  return fs.realpathSync(path.join(path.dirname(require.resolve('bun/package.json')), 'bin', 'bun.exe'));
}

/**
 * Runtimes pass plugins their whole environment (libcni hands on its own), and a Bun executable
 * reads these before any of our code runs: BUN_BE_BUN=1 turns it into the bun CLI (with no
 * arguments it prints its help on stdout; with BUN_OPTIONS="-e ..." it runs that code);
 * BUN_OPTIONS is prepended to the command line (`--preload x.js` runs x.js first). Bun has no
 * switch to turn either off, so the build renames the names in the executable: the first byte
 * becomes 0x01, a name no environment has by accident. test/integration/environment.test.ts
 * proves both are ignored, and the build fails if a Bun upgrade moves the names.
 */
const DISARMED_VARIABLES = ['BUN_BE_BUN', 'BUN_OPTIONS'];

export async function buildBunExecutable(spec: ExecutableSpec): Promise<{ bundleBytes: number; startBytes: number }> {
  if (spec.execArgv?.length) throw new Error(`${spec.output}: execArgv holds V8 flags, which a Bun executable does not take (bunExecArgv)`);
  const { entry, bytes, startBytes } = await bundleSplit(spec);
  const temp = `${spec.output}.tmp`;
  execFileSync(bunBinary(), ['build', entry, '--compile', '--bytecode', '--format=esm', '--splitting', '--minify', '--outfile', temp,
    ...(spec.bunExecArgv ?? []).map((arg) => `--compile-exec-argv=${arg}`),
    // A bunfig.toml can `preload` code and a .env rewrites process.env (CNI_COMMAND included):
    // the plugin must not read either from whatever directory the runtime starts it in.
    '--no-compile-autoload-bunfig', '--no-compile-autoload-dotenv', '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  disarmVariables(temp, DISARMED_VARIABLES);
  fs.chmodSync(temp, 0o755);
  fs.renameSync(temp, spec.output);
  return { bundleBytes: bytes, startBytes };
}

function disarmVariables(file: string, names: readonly string[]): void {
  const image = fs.readFileSync(file);
  for (const name of names) {
    const needle = Buffer.from(name);
    let found = 0;
    for (let at = image.indexOf(needle); at !== -1; at = image.indexOf(needle, at + 1)) {
      image[at] = 0x01;
      found++;
    }
    if (found === 0) throw new Error(`${file}: ${name} not found in the Bun runtime: check how this Bun version reads it before building`);
  }
  fs.writeFileSync(file, image);
}
