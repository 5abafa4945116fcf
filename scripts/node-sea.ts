// Builds a Node single executable from esbuild's bundle (bundle.ts): Node's
// single-executable-application support turns it into a blob (with V8 code cache, so the
// bundle is not compiled at every start), and postject injects the blob into a copy of the
// Node 24 binary from the `node` devDependency. The result needs no Node.js on the host.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { bundle, type ExecutableSpec } from './bundle.ts';

const require = createRequire(import.meta.url);
/** Marks where postject may inject; fixed by Node's SEA design. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export function nodeBinary(): string {
  return fs.realpathSync(path.join(path.dirname(require.resolve('node/package.json')), 'bin', 'node'));
}

export async function buildNodeExecutable(spec: ExecutableSpec): Promise<{ bundleBytes: number }> {
  const main = await bundle(spec);
  const blob = `${spec.output}.blob`;
  const configFile = `${spec.output}.sea.json`;
  fs.writeFileSync(configFile, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, execArgv: spec.execArgv ?? [],
    // Runtimes pass their whole environment to plugins: NODE_OPTIONS (e.g. --require) must not
    // be able to run code in our process or print before the CNI result.
    execArgvExtension: 'none' }));
  const node = nodeBinary();
  // The code cache is made by this process: with V8 flags that change code generation (e.g.
  // --optimize-for-size) it must be made under the same flags, or V8 rejects it at every start
  // ("Code cache data rejected": a slower start and a warning on stderr).
  execFileSync(node, [...(spec.execArgv ?? []), '--experimental-sea-config', configFile], { stdio: 'pipe' });
  const temp = `${spec.output}.tmp`;
  fs.copyFileSync(node, temp);
  fs.chmodSync(temp, 0o755);
  execFileSync(node, [require.resolve('postject/dist/cli.js'), temp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], {
    stdio: 'pipe', // postject warns about ELF notes on every run; failures still throw with its output
  });
  fs.renameSync(temp, spec.output);
  fs.rmSync(configFile);
  fs.rmSync(blob);
  return { bundleBytes: fs.statSync(main).size };
}
