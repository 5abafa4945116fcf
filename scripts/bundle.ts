// The one bundler of both executables: esbuild bundles an entry into one CommonJS file, with
// library modules swapped for stand-ins where asked, and fails the build if a forbidden module
// was reached. node-sea.ts (the agent) and bun.ts (the plugin) each turn that file into an
// executable.
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';

export interface ExecutableSpec {
  entry: string;
  /** Output path of the executable; the bundle and blob sit beside it. */
  output: string;
  /** Module names that must not end up in the bundle (a build error if reached). */
  forbidden?: string[];
  /** Node options baked into the executable. */
  execArgv?: string[];
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

/**
 * esbuild's one-file CommonJS bundle of `spec.entry`, at `<output>.cjs`; throws if it reached a
 * forbidden module. Both runtimes' executables are made from it.
 */
export async function bundle(spec: ExecutableSpec): Promise<string> {
  fs.mkdirSync(path.dirname(spec.output), { recursive: true });
  const outfile = `${spec.output}.cjs`;
  const result = await esbuild.build({
    entryPoints: [spec.entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    outfile,
    minify: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    plugins: spec.standIns ? [standInPlugin(spec.standIns)] : [],
  });
  const inputs = Object.keys(result.metafile.inputs);
  for (const name of spec.forbidden ?? []) {
    const hit = inputs.find((input) => input.includes(`node_modules/${name}/`) || input.startsWith(`${name}/`));
    if (hit) throw new Error(`${spec.output}: the bundle must not contain ${name} (reached ${hit})`);
  }
  return outfile;
}
