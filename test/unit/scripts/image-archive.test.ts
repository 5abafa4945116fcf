// scripts/image-archive.ts on a small Dockerfile of its own: COPY's semantics layer by layer, the
// archive's two indexes, and the same bytes from the same inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { copyEntries, parseStageDir, stageScriptFor, writeImageArchive } from '../../../scripts/image-archive.ts';

const DOCKERFILE = `FROM node:24 AS build
WORKDIR /src
FROM debian:bookworm-slim AS rootfs
COPY tools/cut.sh /image/
COPY --from=build /src/dist/tool /image/dist/
FROM scratch
COPY --from=rootfs /rootfs/ /
COPY --from=build /src/dist/tool /src/dist/alias /usr/local/bin/
COPY --from=build /src/dist/single /opt/renamed
ENV PATH=/usr/local/bin
USER 0:0
ENTRYPOINT ["/usr/local/bin/tool"]
`;

function fixture(): { dir: string; dockerfile: string; stages: ReturnType<typeof parseStageDir>[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-image-archive-'));
  const write = (file: string, content: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), content);
    fs.chmodSync(path.join(dir, file), mode);
  };
  write('Dockerfile', DOCKERFILE);
  write('tools/cut.sh', '#!/bin/sh\n', 0o755);
  write('dist/tool', 'the tool\n', 0o755);
  fs.symlinkSync('tool', path.join(dir, 'dist/alias'));
  write('dist/single', 'one file\n', 0o600);
  write('rootfs/etc/passwd', 'root:x:0:0::/:/nonexistent\n');
  write('rootfs/usr/lib/libx.so.1', 'ELF-ish\n', 0o755);
  fs.symlinkSync('usr/lib', path.join(dir, 'rootfs/lib'));
  fs.mkdirSync(path.join(dir, 'rootfs/tmp'));
  fs.chmodSync(path.join(dir, 'rootfs/tmp'), 0o1777);
  return { dir, dockerfile: path.join(dir, 'Dockerfile'), stages: [parseStageDir(`build:/src=${dir}`), parseStageDir(`rootfs:/rootfs=${path.join(dir, 'rootfs')}`)] };
}

/** A gzip layer's entries, each `mode path` (a symlink's with ` -> target`), as GNU tar reads them. */
const listing = (tgz: Buffer) => {
  const file = path.join(os.tmpdir(), `bw-layer-${process.pid}.tar`);
  fs.writeFileSync(file, gunzipSync(tgz));
  try {
    return spawnSync('tar', ['-tvf', file, '--numeric-owner'], { encoding: 'utf8' }).stdout.trim().split('\n')
      .map((line) => { const f = line.split(/\s+/); return `${f[0]} ${f.slice(5).join(' ')}`; });
  } finally {
    fs.rmSync(file);
  }
};

test('one layer per COPY, as Docker copies; index.json and manifest.json; the same inputs give the same bytes', async () => {
  const { dir, dockerfile, stages } = fixture();
  try {
    const options = { dockerfile, stages, tag: 'bridgeway:0.1.0', epoch: 1_700_000_000, architecture: 'amd64' };
    const first = path.join(dir, 'first.tar');
    const result = await writeImageArchive({ ...options, output: first });
    await writeImageArchive({ ...options, output: path.join(dir, 'second.tar') });
    await writeImageArchive({ ...options, output: path.join(dir, 'later.tar'), epoch: 1_700_000_001 });
    const bytes = (file: string) => fs.readFileSync(path.join(dir, file));
    assert.deepEqual(bytes('second.tar'), bytes('first.tar'), 'reproducible');
    assert.notDeepEqual(bytes('later.tar'), bytes('first.tar'), 'mtimes come from the epoch');

    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    assert.equal(spawnSync('tar', ['-xf', first, '-C', out]).status, 0);
    const json = (file: string) => JSON.parse(fs.readFileSync(path.join(out, file), 'utf8'));
    const blob = (digest: string) => fs.readFileSync(path.join(out, 'blobs', ...digest.split(':')));
    const index = json('index.json');
    const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
    const config = JSON.parse(blob(manifest.config.digest).toString());
    assert.deepEqual(json('manifest.json')[0].Layers, manifest.layers.map((l: { digest: string }) => `blobs/${l.digest.replace(':', '/')}`));
    assert.equal(manifest.config.digest, result.config.digest);
    assert.deepEqual(config.config, { User: '0:0', Env: ['PATH=/usr/local/bin'], Entrypoint: ['/usr/local/bin/tool'] });
    assert.equal(config.created, '2023-11-14T22:13:20.000Z');

    const layers = manifest.layers.map((l: { digest: string }) => blob(l.digest));
    layers.forEach((layer: Buffer, i: number) => {
      assert.equal(config.rootfs.diff_ids[i], `sha256:${createHash('sha256').update(gunzipSync(layer)).digest('hex')}`);
    });
    // A directory source gives its contents, symlinks kept.
    assert.deepEqual(listing(layers[0]), [
      'drwxr-xr-x etc/', '-rw-r--r-- etc/passwd', 'lrwxrwxrwx lib -> usr/lib', 'drwxrwxrwt tmp/',
      'drwxr-xr-x usr/', 'drwxr-xr-x usr/lib/', '-rwxr-xr-x usr/lib/libx.so.1',
    ]);
    // Files land in the destination directory, a symlink source copied as the file it names.
    assert.deepEqual(listing(layers[1]), [
      'drwxr-xr-x usr/', 'drwxr-xr-x usr/local/', 'drwxr-xr-x usr/local/bin/', '-rwxr-xr-x usr/local/bin/alias', '-rwxr-xr-x usr/local/bin/tool',
    ]);
    // One file to a destination without a trailing slash: that is its name.
    assert.deepEqual(listing(layers[2]), ['drwxr-xr-x opt/', '-rw------- opt/renamed']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a COPY source no --stage covers is an error; --stage is <stage>:<path>=<dir>', () => {
  const { dir, stages } = fixture();
  try {
    assert.throws(() => copyEntries({ from: 'other', sources: ['/x'], dest: '/', line: 4 }, stages), /line 4: no --stage other:<path>=<dir> covers \/x/);
    assert.throws(() => copyEntries({ sources: ['x'], dest: '/', line: 5 }, stages), /line 5: COPY from the build context/);
    assert.throws(() => parseStageDir('build=/src'), /--stage must be/);
    assert.deepEqual(parseStageDir('build:/src/=.'), { stage: 'build', prefix: '/src', local: process.cwd() });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('stage-script: the rootfs stage\'s COPYs as install, its RUNs in a chroot with its ARGs', () => {
  const { dir, dockerfile, stages } = fixture();
  try {
    const script = stageScriptFor(dockerfile, 'rootfs', stages);
    assert.match(script, new RegExp(`^install -D -m 755 '${dir}/tools/cut.sh' "\\$root"'/image/cut.sh'$`, 'm'));
    assert.match(script, new RegExp(`^install -D -m 755 '${dir}/dist/tool' "\\$root"'/image/dist/tool'$`, 'm'));
    assert.throws(() => stageScriptFor(dockerfile, 'build', stages), /FROM node:24, not debian/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
