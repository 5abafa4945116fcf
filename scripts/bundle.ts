// The one bundler: esbuild bundles an entry, with library modules swapped for stand-ins where
// asked, and fails the build if a forbidden module was reached. Two shapes:
// - `bundle`: one CommonJS file (<output>.cjs): what a Node single executable runs
//   (node-sea.ts), and what the tests run on Node (the plugin's iproute2 backend);
// - `bundleSplit`: ES modules split at every dynamic import (<output>.esm/): what the Bun
//   executable is compiled from (bun.ts), so a lazily imported part (the agent) is a chunk the
//   executable loads only when that import runs. `startForbidden` names what must not be loaded
//   at start-up: the entry's static imports, followed chunk by chunk.
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';

export interface ExecutableSpec {
  entry: string;
  /** Output path of the executable; the bundle and blob sit beside it. */
  output: string;
  /** Module names that must not end up in the bundle (a build error if reached). */
  forbidden?: string[];
  /**
   * Modules that must not be in what the executable loads at start (bundleSplit only): package
   * names, or our folders ending in "/" (e.g. "daemonset/"). Reached only through a dynamic import is fine.
   */
  startForbidden?: string[];
  /** Node options baked into a Node single executable. */
  execArgv?: string[];
  /** Bun options baked into a Bun executable (`--compile-exec-argv`). */
  bunExecArgv?: string[];
  /**
   * Library modules the executable must not carry, swapped at bundle time for a small file: an
   * import whose path matches `imports` (from a file whose path matches `importer`, if given)
   * resolves to `standIn`. Why each one is safe is said where they are listed (scripts/build.ts).
   */
  standIns?: StandIn[];
}

export interface StandIn {
  imports: RegExp;
  importer?: RegExp;
  standIn: string;
}

function standInPlugin(standIns: StandIn[]): esbuild.Plugin {
  return {
    name: 'stand-ins',
    setup(build) {
      for (const { imports, importer, standIn } of standIns) {
        build.onResolve({ filter: imports }, (args) => (!importer || importer.test(args.importer) ? { path: path.resolve(standIn) } : undefined));
      }
    },
  };
}

function options(spec: ExecutableSpec): esbuild.BuildOptions & { metafile: true } {
  return {
    entryPoints: [spec.entry],
    bundle: true,
    platform: 'node',
    target: 'node24',
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    plugins: spec.standIns ? [standInPlugin(spec.standIns)] : [],
  };
}

/** `input` (a metafile path) is the package or our module `name` names. */
function isModule(input: string, name: string): boolean {
  return name.endsWith('/') && !name.startsWith('@') ? input.startsWith(name) : input.includes(`node_modules/${name}/`) || input.startsWith(`${name}/`);
}

function checkForbidden(spec: ExecutableSpec, inputs: string[]): void {
  for (const name of spec.forbidden ?? []) {
    const hit = inputs.find((input) => isModule(input, name));
    if (hit) throw new Error(`${spec.output}: the bundle must not contain ${name} (reached ${hit})`);
  }
}

/**
 * esbuild's one-file CommonJS bundle of `spec.entry`, at `<output>.cjs`; throws if it reached a
 * forbidden module. Dynamic imports are inlined (loaded lazily, but parsed with the rest).
 */
export async function bundle(spec: ExecutableSpec): Promise<string> {
  fs.mkdirSync(path.dirname(spec.output), { recursive: true });
  const outfile = `${spec.output}.cjs`;
  const result = await esbuild.build({ ...options(spec), format: 'cjs', outfile });
  checkForbidden(spec, Object.keys(result.metafile.inputs));
  return outfile;
}

/**
 * ES modules in `<output>.esm/`: the entry (returned) and the chunks esbuild split off at each
 * dynamic import and shared between them. Throws if a forbidden module was reached anywhere, or
 * a start-forbidden one is loaded at start.
 */
export async function bundleSplit(spec: ExecutableSpec): Promise<{ entry: string; bytes: number; startBytes: number }> {
  const outdir = `${spec.output}.esm`;
  fs.rmSync(outdir, { recursive: true, force: true });
  const result = await esbuild.build({
    ...options(spec),
    format: 'esm',
    splitting: true,
    outdir,
    // CommonJS dependencies (client-node's) call require() for Node's modules, which an ES
    // module has no binding for.
    banner: { js: 'import{createRequire as __bwRequire}from"node:module";const require=__bwRequire(import.meta.url);' },
  });
  const outputs = result.metafile.outputs;
  checkForbidden(spec, Object.keys(result.metafile.inputs));
  // The entry's own output: every chunk of a dynamic import names its module as entryPoint too.
  const entryName = Object.keys(outputs).find((file) => outputs[file]!.entryPoint !== undefined && path.resolve(outputs[file]!.entryPoint!) === path.resolve(spec.entry));
  if (!entryName) throw new Error(`${spec.output}: esbuild reported no entry output`);
  // What the executable loads at start: the entry and, transitively, its static imports.
  const atStart = new Set<string>();
  const visit = (file: string) => {
    if (atStart.has(file) || !outputs[file]) return;
    atStart.add(file);
    for (const imported of outputs[file]!.imports) if (imported.kind === 'import-statement') visit(imported.path);
  };
  visit(entryName);
  const startInputs = [...atStart].flatMap((file) => Object.keys(outputs[file]!.inputs));
  for (const name of spec.startForbidden ?? []) {
    const hit = startInputs.find((input) => isModule(input, name));
    if (hit) throw new Error(`${spec.output}: ${name} must not load at start-up, only through a dynamic import (${hit} is reached statically from ${spec.entry})`);
  }
  const bytesOf = (files: Iterable<string>) => [...files].reduce((sum, file) => sum + outputs[file]!.bytes, 0);
  return { entry: path.resolve(entryName), bytes: bytesOf(Object.keys(outputs)), startBytes: bytesOf(atStart) };
}
