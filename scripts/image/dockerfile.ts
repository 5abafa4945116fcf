// Pure: the part of the Dockerfile language our Dockerfile uses, read into stages and
// instructions, and the final stage read as an image (its layers, environment, user, entrypoint).
// scripts/image-archive.ts builds the image from exactly this reading, and the image test checks
// the archive against it, so the Dockerfile stays the one description of the image.
// Anything this reader does not understand is an error, not a guess.

export interface Instruction {
  /** Upper case: FROM, COPY, RUN, ... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  rest: string;
  /** 1-based line of the keyword, for errors. */
  line: number;
}

export interface Stage {
  /** The FROM image, e.g. debian:bookworm-slim or scratch. */
  base: string;
  name?: string;
  instructions: Instruction[];
}

export class DockerfileError extends Error {
  override name = 'DockerfileError';
}

/** The instructions in order: comments and blank lines dropped, `\` continuations joined. */
export function parseInstructions(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trim();
    if (first === '' || first.startsWith('#')) continue;
    const line = i + 1;
    let joined = first;
    // A trailing backslash continues the instruction; comment lines inside it are skipped, as
    // Docker does.
    while (joined.endsWith('\\')) {
      joined = joined.slice(0, -1).trimEnd();
      i++;
      while (i < lines.length && lines[i]!.trim().startsWith('#')) i++;
      if (i >= lines.length) throw new DockerfileError(`line ${line}: the file ends inside a continued instruction`);
      joined += ` ${lines[i]!.trim()}`;
    }
    const match = /^(\S+)\s*(.*)$/.exec(joined)!;
    instructions.push({ keyword: match[1]!.toUpperCase(), rest: match[2]!.trim(), line });
  }
  return instructions;
}

export function parseStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.rest.split(/\s+/);
      if (words[0]?.startsWith('--')) throw new DockerfileError(`line ${instruction.line}: FROM flags are not supported`);
      if (words.length === 3 && words[1]!.toUpperCase() === 'AS') stages.push({ base: words[0]!, name: words[2]!, instructions: [] });
      else if (words.length === 1 && words[0]) stages.push({ base: words[0], instructions: [] });
      else throw new DockerfileError(`line ${instruction.line}: expected FROM <image> [AS <name>], got FROM ${instruction.rest}`);
      continue;
    }
    const stage = stages.at(-1);
    // ARG before the first FROM is allowed by Docker; nothing else is.
    if (!stage) {
      if (instruction.keyword === 'ARG') continue;
      throw new DockerfileError(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
    }
    stage.instructions.push(instruction);
  }
  if (stages.length === 0) throw new DockerfileError('no FROM');
  return stages;
}

export function stageNamed(stages: Stage[], name: string): Stage {
  const stage = stages.find((s) => s.name === name);
  if (!stage) throw new DockerfileError(`no stage named ${name}`);
  return stage;
}

/** ["a", "b"] (exec form): the strings; anything else: undefined. */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

export interface Copy {
  /** The stage the files come from; undefined: the build context. */
  from?: string;
  sources: string[];
  dest: string;
  line: number;
}

/** COPY [--from=<stage>] <src>... <dest>, or its JSON form. Other flags are errors. */
export function parseCopy(instruction: Instruction): Copy {
  let words = instruction.rest.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    const value = /^--from=(.+)$/.exec(flag)?.[1];
    if (!value) throw new DockerfileError(`line ${instruction.line}: COPY ${flag} is not supported (only --from)`);
    from = value;
  }
  const json = jsonArray(words.join(' '));
  if (json) words = json;
  if (words.length < 2) throw new DockerfileError(`line ${instruction.line}: COPY needs a source and a destination`);
  return { ...(from !== undefined && { from }), sources: words.slice(0, -1), dest: words.at(-1)!, line: instruction.line };
}

/** ENV k=v [k2=v2...] (values may be double-quoted) or the old ENV k v. */
export function parseEnv(instruction: Instruction): [string, string][] {
  const { rest, line } = instruction;
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(rest)) {
    const old = /^([A-Za-z_][A-Za-z0-9_]*)\s+(.+)$/.exec(rest);
    if (!old) throw new DockerfileError(`line ${line}: cannot read ENV ${rest}`);
    return [[old[1]!, old[2]!]];
  }
  const pairs: [string, string][] = [];
  // A value is double-quoted or has no quote at its start (so an unterminated quote is an error).
  const pair = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^"\s]\S*|)(?:\s+|$)/y;
  while (pair.lastIndex < rest.length) {
    const match = pair.exec(rest);
    if (!match) throw new DockerfileError(`line ${line}: cannot read ENV ${rest}`);
    const value = match[2]!;
    pairs.push([match[1]!, value.startsWith('"') ? (JSON.parse(value) as string) : value]);
  }
  return pairs;
}

/** The final stage as an image: what scripts/image-archive.ts writes into the OCI config. */
export interface ImageSpec {
  /** One layer per COPY, in order (FROM scratch: no base layers). */
  layers: Copy[];
  /** KEY=value, in the order set (a later ENV of the same key replaces the value in place). */
  env: string[];
  user?: string;
  workdir?: string;
  entrypoint?: string[];
  cmd?: string[];
}

/**
 * The last stage, which must be FROM scratch and hold only COPY, ENV, USER, WORKDIR, ENTRYPOINT
 * and CMD: those are all an image made without running anything can reproduce.
 */
export function imageSpec(stages: Stage[]): ImageSpec {
  const final = stages.at(-1)!;
  if (final.base !== 'scratch') throw new DockerfileError(`the final stage must be FROM scratch, not ${final.base}: a base image's layers cannot be reproduced here`);
  const spec: ImageSpec = { layers: [], env: [] };
  for (const instruction of final.instructions) {
    const { keyword, rest, line } = instruction;
    switch (keyword) {
      case 'COPY':
        spec.layers.push(parseCopy(instruction));
        break;
      case 'ENV':
        for (const [key, value] of parseEnv(instruction)) {
          const at = spec.env.findIndex((e) => e.startsWith(`${key}=`));
          if (at >= 0) spec.env[at] = `${key}=${value}`;
          else spec.env.push(`${key}=${value}`);
        }
        break;
      case 'USER':
        spec.user = rest;
        break;
      case 'WORKDIR':
        spec.workdir = rest;
        break;
      case 'ENTRYPOINT':
      case 'CMD': {
        const argv = jsonArray(rest);
        if (!argv) throw new DockerfileError(`line ${line}: ${keyword} must be in exec (JSON) form: the image has no shell`);
        if (keyword === 'ENTRYPOINT') spec.entrypoint = argv;
        else spec.cmd = argv;
        break;
      }
      default:
        throw new DockerfileError(`line ${line}: ${keyword} in the final stage cannot be reproduced without Docker`);
    }
  }
  return spec;
}

/** The Debian suite of a stage FROM debian:<suite>[-slim] (what mmdebstrap installs from). */
export function debianSuite(stage: Stage): string {
  const suite = /^(?:docker\.io\/)?(?:library\/)?debian:([a-z]+)(?:-slim)?$/.exec(stage.base)?.[1];
  if (!suite) throw new DockerfileError(`stage ${stage.name ?? '(unnamed)'} is FROM ${stage.base}, not debian:<suite>[-slim]`);
  return suite;
}
