// Pure: one Dockerfile stage (FROM debian:<suite>...) as a bash script that does what Docker would
// do in it, inside a Debian root of that suite given as the script's $1: each COPY as `install`,
// each RUN in a chroot with the stage's ARGs and ENVs, in order. scripts/build-image.sh runs it in
// the root mmdebstrap makes, so the rootfs stage's commands are the Dockerfile's own, not a copy.
import { DockerfileError, parseCopy, parseEnv, type Stage } from './dockerfile.ts';

/** Debian's images set this PATH; a RUN sees it. */
export const DEBIAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** 'text' for bash, any byte but NUL. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export interface StageScriptInputs {
  /** A COPY source's local file: from the build context (from undefined) or from another stage. */
  localFile(from: string | undefined, source: string, line: number): string;
  /** The file's permission bits (COPY keeps them). */
  modeOf(file: string): number;
  /** Build arguments (`--build-arg`): override an ARG's default. */
  buildArgs: Record<string, string | undefined>;
}

export function stageScript(stage: Stage, inputs: StageScriptInputs): string {
  const env = new Map<string, string>([['PATH', DEBIAN_PATH], ['HOME', '/root']]);
  let workdir = '/';
  const lines = [
    `# The Dockerfile's stage ${stage.name ?? '(unnamed)'} (FROM ${stage.base}), reproduced in the Debian root "$1" (scripts/image/stage-script.ts).`,
    'set -euo pipefail',
    'root=$1',
  ];
  for (const instruction of stage.instructions) {
    const { keyword, rest, line } = instruction;
    switch (keyword) {
      case 'ARG': {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest);
        if (!match) throw new DockerfileError(`line ${line}: cannot read ARG ${rest}`);
        const value = inputs.buildArgs[match[1]!] ?? match[2];
        if (value !== undefined) env.set(match[1]!, value);
        break;
      }
      case 'ENV':
        for (const [key, value] of parseEnv(instruction)) env.set(key, value);
        break;
      case 'WORKDIR':
        workdir = rest.startsWith('/') ? rest : `${workdir.replace(/\/$/, '')}/${rest}`;
        lines.push(`mkdir -p "$root"${shellQuote(workdir)}`);
        break;
      case 'COPY': {
        const copy = parseCopy(instruction);
        const destIsDir = copy.dest.endsWith('/') || copy.sources.length > 1;
        const dest = copy.dest.startsWith('/') ? copy.dest : `${workdir.replace(/\/$/, '')}/${copy.dest}`;
        for (const source of copy.sources) {
          const local = inputs.localFile(copy.from, source, line);
          const target = destIsDir ? `${dest.replace(/\/$/, '')}/${source.split('/').pop()}` : dest;
          // install follows a symlink source, as COPY does.
          lines.push(`install -D -m ${(inputs.modeOf(local) & 0o7777).toString(8)} ${shellQuote(local)} "$root"${shellQuote(target)}`);
        }
        break;
      }
      case 'RUN': {
        if (rest.startsWith('[')) throw new DockerfileError(`line ${line}: RUN in exec form is not supported here`);
        const assignments = [...env].map(([key, value]) => shellQuote(`${key}=${value}`)).join(' ');
        lines.push(`chroot "$root" /usr/bin/env -i ${assignments} /bin/sh -c ${shellQuote(`cd ${shellQuote(workdir)} && ${rest}`)}`);
        break;
      }
      default:
        throw new DockerfileError(`line ${line}: ${keyword} in stage ${stage.name ?? '(unnamed)'} is not reproduced by build-image.sh`);
    }
  }
  return `${lines.join('\n')}\n`;
}
