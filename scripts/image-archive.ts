// The image the Dockerfile's final stage describes, written as an OCI archive without Docker
// (scripts/build-image.sh runs it after cutting the root filesystem):
//
//   node scripts/image-archive.ts write --stage build:/src=. --stage rootfs:/rootfs=DIR \
//       --tag bridgeway:0.1.0 --output FILE
//   node scripts/image-archive.ts suite rootfs
//   node scripts/image-archive.ts stage-script rootfs --stage build:/src=.
//
// `write` makes one layer per COPY of the final stage (FROM scratch), each COPY source read from
// the local directory that --stage maps its stage's path to, and the config from its ENV, USER,
// WORKDIR, ENTRYPOINT and CMD (scripts/image/dockerfile.ts reads them). The archive holds
// index.json (ctr images import) and manifest.json (docker load) over the same blobs. Every tar
// entry is owned by 0:0 with mtime SOURCE_DATE_EPOCH (default 0), and entries are sorted: the
// same inputs give the same archive, byte for byte.
//
// `suite <stage>` prints the Debian suite a stage is FROM; `stage-script <stage>` prints a bash
// script that does that stage's COPYs and RUNs in a Debian root given as its $1
// (scripts/image/stage-script.ts): build-image.sh runs it in mmdebstrap's root.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { debianSuite, imageSpec, parseStages, stageNamed, type Copy } from './image/dockerfile.ts';
import { stageScript } from './image/stage-script.ts';
import { blobPath, dockerManifest, imageConfig, imageIndex, imageManifest, imageNames, OCI_LAYOUT, ociArchitecture, type Blob, type Layer } from './image/oci.ts';
import { TAR_END, tarHeader, tarPadding, type TarEntry } from './image/tar.ts';

/** A stage's path prefix and the local directory that holds what is under it. */
export interface StageDir {
  stage: string;
  prefix: string;
  local: string;
}

export function parseStageDir(text: string): StageDir {
  const match = /^([^:]+):(\/[^=]*)=(.+)$/.exec(text);
  if (!match) throw new Error(`--stage must be <stage>:<path>=<local dir>, got ${JSON.stringify(text)}`);
  return { stage: match[1]!, prefix: match[2]!.replace(/\/+$/, '') || '/', local: path.resolve(match[3]!) };
}

/** The local path of `source`, a path in stage `from`. */
function localPath(from: string | undefined, source: string, dirs: StageDir[], line: number): string {
  if (from === undefined) throw new Error(`line ${line}: COPY from the build context is not supported in the final stage`);
  for (const dir of dirs.filter((d) => d.stage === from)) {
    const relative = path.posix.relative(dir.prefix, path.posix.normalize(source));
    if (!relative.startsWith('..') && !path.posix.isAbsolute(relative)) return path.join(dir.local, relative);
  }
  throw new Error(`line ${line}: no --stage ${from}:<path>=<dir> covers ${source}`);
}

interface LayerEntry extends TarEntry {
  /** Where a file's bytes are read from. */
  local?: string;
}

function entryOf(local: string, at: string, stat: fs.Stats): LayerEntry {
  const mode = stat.mode & 0o7777;
  if (stat.isSymbolicLink()) return { path: at, type: 'symlink', mode, linkname: fs.readlinkSync(local) };
  if (stat.isDirectory()) return { path: at, type: 'directory', mode };
  if (stat.isFile()) return { path: at, type: 'file', mode, size: stat.size, local };
  throw new Error(`${local}: neither a file, a directory nor a symlink`);
}

/** Everything under `local` (symlinks kept as symlinks), at `at` in the layer. */
function walk(local: string, at: string, into: Map<string, LayerEntry>): void {
  for (const name of fs.readdirSync(local)) {
    const child = path.join(local, name);
    const childAt = at ? `${at}/${name}` : name;
    const stat = fs.lstatSync(child);
    into.set(childAt, entryOf(child, childAt, stat));
    if (stat.isDirectory()) walk(child, childAt, into);
  }
}

/**
 * The entries of one COPY's layer, as Docker makes them: a directory source contributes its
 * contents, a file source (a symlink is followed) lands in the destination directory, or is the
 * destination when it is the only source and the destination does not end in '/'. The
 * destination's parent directories are in the layer, mode 0755.
 */
export function copyEntries(copy: Copy, dirs: StageDir[]): LayerEntry[] {
  const entries = new Map<string, LayerEntry>();
  const destIsDir = copy.dest.endsWith('/') || copy.sources.length > 1;
  const dest = path.posix.normalize(copy.dest).replace(/^\/+|\/+$/g, '');
  const parents = (to: string) => {
    const parts = to.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!entries.has(dir)) entries.set(dir, { path: dir, type: 'directory', mode: 0o755 });
    }
  };
  for (const source of copy.sources) {
    const local = localPath(copy.from, source, dirs, copy.line);
    const stat = fs.statSync(local);
    if (stat.isDirectory()) {
      parents(dest);
      walk(local, dest, entries);
      continue;
    }
    const at = destIsDir ? (dest ? `${dest}/${path.posix.basename(source)}` : path.posix.basename(source)) : dest;
    parents(path.posix.dirname(at) === '.' ? '' : path.posix.dirname(at));
    entries.set(at, entryOf(local, at, stat));
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A Transform that counts and hashes what passes. */
function tap(hash: ReturnType<typeof createHash>, count?: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      if (count) count.bytes += chunk.length;
      done(null, chunk);
    },
  });
}

async function* tarBytes(entries: LayerEntry[], mtime: number): AsyncGenerator<Buffer> {
  for (const entry of entries) {
    yield tarHeader(entry, mtime);
    if (entry.type !== 'file') continue;
    let read = 0;
    for await (const chunk of fs.createReadStream(entry.local!)) {
      read += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (read !== entry.size) throw new Error(`${entry.local} changed while it was archived (${entry.size} -> ${read} bytes)`);
    yield tarPadding(read);
  }
  yield TAR_END;
}

/** Writes the gzip-compressed tar of `entries` into blobDir as blobs/sha256/<digest>. */
async function writeLayer(entries: LayerEntry[], blobDir: string, mtime: number, createdBy: string): Promise<Layer> {
  const diff = createHash('sha256');
  const compressed = createHash('sha256');
  const count = { bytes: 0 };
  const temporary = path.join(blobDir, `.layer-${process.pid}`);
  await pipeline(Readable.from(tarBytes(entries, mtime)), tap(diff), createGzip(), tap(compressed, count), fs.createWriteStream(temporary));
  const layer: Layer = { digest: `sha256:${compressed.digest('hex')}`, size: count.bytes, diffId: `sha256:${diff.digest('hex')}`, createdBy };
  fs.renameSync(temporary, path.join(blobDir, blobPath(layer)));
  return layer;
}

function writeJsonBlob(blobDir: string, document: object): Blob {
  const bytes = Buffer.from(JSON.stringify(document));
  const blob = { digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length };
  fs.writeFileSync(path.join(blobDir, blobPath(blob)), bytes);
  return blob;
}

export interface ArchiveOptions {
  dockerfile: string;
  stages: StageDir[];
  tag: string;
  output: string;
  /** Seconds since the epoch, every entry's mtime and the config's `created`. */
  epoch: number;
  /** Debian's spelling (dpkg --print-architecture). */
  architecture: string;
}

export interface ArchiveResult {
  layers: (Layer & { uncompressedSize: number })[];
  config: Blob;
  manifest: Blob;
}

const copyText = (copy: Copy) => `COPY ${copy.from !== undefined ? `--from=${copy.from} ` : ''}${[...copy.sources, copy.dest].join(' ')}`;

export async function writeImageArchive(options: ArchiveOptions): Promise<ArchiveResult> {
  const spec = imageSpec(parseStages(fs.readFileSync(options.dockerfile, 'utf8')));
  const names = imageNames(options.tag);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgeway-image-'));
  try {
    fs.mkdirSync(path.join(work, 'blobs/sha256'), { recursive: true });
    const layers: ArchiveResult['layers'] = [];
    for (const copy of spec.layers) {
      const entries = copyEntries(copy, options.stages);
      const layer = await writeLayer(entries, work, options.epoch, copyText(copy));
      layers.push({ ...layer, uncompressedSize: entries.reduce((sum, e) => sum + (e.size ?? 0), 0) });
    }
    const created = new Date(options.epoch * 1000).toISOString();
    const architecture = ociArchitecture(options.architecture);
    const config = writeJsonBlob(work, imageConfig(spec, layers, { architecture, created }));
    const manifest = writeJsonBlob(work, imageManifest(config, layers));
    fs.writeFileSync(path.join(work, 'index.json'), JSON.stringify(imageIndex(manifest, names)));
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify(dockerManifest(config, layers, names)));
    fs.writeFileSync(path.join(work, 'oci-layout'), JSON.stringify(OCI_LAYOUT));

    // The archive: the layout's files at its top, sorted, directories before their contents.
    const archiveEntries: LayerEntry[] = [];
    walkInto(work, '', archiveEntries);
    archiveEntries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const temporary = `${options.output}.tmp-${process.pid}`;
    try {
      await pipeline(Readable.from(tarBytes(archiveEntries.map((e) => ({ ...e, mode: e.type === 'directory' ? 0o755 : 0o644 })), options.epoch)), fs.createWriteStream(temporary));
      fs.renameSync(temporary, options.output);
    } finally {
      fs.rmSync(temporary, { force: true });
    }
    return { layers, config, manifest };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function walkInto(local: string, at: string, into: LayerEntry[]): void {
  const map = new Map<string, LayerEntry>();
  walk(local, at, map);
  into.push(...map.values());
}

/** A COPY source of a stage as a local file: the build context's, or another stage's through --stage. */
function localFileFor(context: string, dirs: StageDir[]): (from: string | undefined, source: string, line: number) => string {
  return (from, source, line) => {
    const local = from === undefined ? path.join(context, source) : localPath(from, source, dirs, line);
    if (!fs.statSync(local).isFile()) throw new Error(`line ${line}: ${source} is not a file (build-image.sh copies files only)`);
    return local;
  };
}

/** The bash script that reproduces stage `name` in a Debian root (scripts/image/stage-script.ts). */
export function stageScriptFor(dockerfile: string, name: string, stages: StageDir[]): string {
  const stage = stageNamed(parseStages(fs.readFileSync(dockerfile, 'utf8')), name);
  debianSuite(stage); // only a Debian stage can be reproduced in mmdebstrap's root
  return stageScript(stage, {
    localFile: localFileFor(path.dirname(path.resolve(dockerfile)), stages),
    modeOf: (file) => fs.statSync(file).mode,
    buildArgs: { SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH },
  });
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dockerfile: { type: 'string', default: path.resolve(import.meta.dirname, '../Dockerfile') },
      stage: { type: 'string', multiple: true, default: [] },
      tag: { type: 'string' },
      output: { type: 'string' },
      architecture: { type: 'string' },
    },
  });
  const stages = values.stage.map(parseStageDir);
  const command = positionals[0];
  if (command === 'suite' && positionals[1]) {
    process.stdout.write(`${debianSuite(stageNamed(parseStages(fs.readFileSync(values.dockerfile, 'utf8')), positionals[1]))}\n`);
    return;
  }
  if (command === 'stage-script' && positionals[1]) {
    process.stdout.write(stageScriptFor(values.dockerfile, positionals[1], stages));
    return;
  }
  if (command !== 'write' || !values.tag || !values.output || !values.architecture) {
    throw new Error('usage: image-archive.ts write --stage <stage>:<path>=<dir>... --tag <name:tag> --output <file> --architecture <dpkg arch> | suite <stage> | stage-script <stage> --stage ...');
  }
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? '0');
  if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds, got ${process.env.SOURCE_DATE_EPOCH}`);
  const result = await writeImageArchive({ dockerfile: values.dockerfile, stages, tag: values.tag, output: values.output, epoch, architecture: values.architecture });
  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  result.layers.forEach((layer, i) => {
    process.stderr.write(`layer ${i + 1} (${layer.createdBy}): ${mb(layer.uncompressedSize)} MB of files, ${mb(layer.size)} MB gzip, ${layer.digest}\n`);
  });
  const files = result.layers.reduce((sum, l) => sum + l.uncompressedSize, 0);
  const gzip = result.layers.reduce((sum, l) => sum + l.size, 0);
  process.stderr.write(`image ${values.tag}: ${mb(files)} MB of files, ${mb(gzip)} MB gzip, manifest ${result.manifest.digest} -> ${values.output}\n`);
}

if (import.meta.main) {
  main().catch((error: Error) => {
    process.stderr.write(`image-archive.ts: ${error.message}\n`);
    process.exit(1);
  });
}
