import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { debianSuite, DockerfileError, imageSpec, parseCopy, parseEnv, parseInstructions, parseStages, stageNamed } from '../../../../scripts/image/dockerfile.ts';

const ROOT = path.resolve(import.meta.dirname, '../../../..');

test('the repository\'s Dockerfile: build, rootfs, then a final stage FROM scratch that is the image', () => {
  const stages = parseStages(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  assert.deepEqual(stages.map((s) => [s.name, s.base]), [['build', 'node:24-bookworm'], ['rootfs', 'debian:bookworm-slim'], [undefined, 'scratch']]);
  assert.equal(debianSuite(stageNamed(stages, 'rootfs')), 'bookworm');
  const spec = imageSpec(stages);
  assert.deepEqual(spec.layers.map(({ from, sources, dest }) => ({ from, sources, dest })), [
    { from: 'rootfs', sources: ['/rootfs/'], dest: '/' },
    { from: 'build', sources: ['/src/dist/bridgeway'], dest: '/usr/local/bin/' },
  ]);
  assert.deepEqual(spec.entrypoint, ['/usr/local/bin/bridgeway-agent']);
  assert.deepEqual(spec.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  assert.equal(spec.user, '0:0');
  assert.equal(spec.cmd, undefined);
});

test('continuations are joined, comment lines inside them skipped; keywords are case-insensitive', () => {
  const instructions = parseInstructions('# syntax=docker/dockerfile:1\nfrom debian:bookworm AS x\nRUN a \\\n  # a comment\n  && b \\\n  && c\n\nenv A=1\n');
  assert.deepEqual(instructions.map(({ keyword, rest, line }) => [keyword, rest, line]), [
    ['FROM', 'debian:bookworm AS x', 2],
    ['RUN', 'a && b && c', 3],
    ['ENV', 'A=1', 8],
  ]);
  assert.throws(() => parseInstructions('FROM a\nRUN b \\'), /line 2: the file ends inside a continued instruction/);
});

test('COPY: --from, several sources, the JSON form; other flags are refused', () => {
  const copy = (rest: string) => parseCopy({ keyword: 'COPY', rest, line: 7 });
  assert.deepEqual(copy('--from=build /a /b /dest/'), { from: 'build', sources: ['/a', '/b'], dest: '/dest/', line: 7 });
  assert.deepEqual(copy('["a b", "/dest"]'), { sources: ['a b'], dest: '/dest', line: 7 });
  assert.throws(() => copy('--chown=1:1 a /b'), /line 7: COPY --chown=1:1 is not supported/);
  assert.throws(() => copy('onlyone'), /needs a source and a destination/);
});

test('ENV: key=value pairs (quoted or not) and the old `ENV key value`', () => {
  const env = (rest: string) => parseEnv({ keyword: 'ENV', rest, line: 3 });
  assert.deepEqual(env('A=1 B="two words" C='), [['A', '1'], ['B', 'two words'], ['C', '']]);
  assert.deepEqual(env('PATH /usr/bin:/bin'), [['PATH', '/usr/bin:/bin']]);
  assert.throws(() => env('A="unterminated'), /line 3: cannot read ENV/);
});

test('the final stage must be reproducible without running anything', () => {
  const spec = (text: string) => imageSpec(parseStages(text));
  assert.deepEqual(spec('FROM scratch\nENV A=1\nENV A=2 B=3\nWORKDIR /w\nCMD ["x"]'), { layers: [], env: ['A=2', 'B=3'], workdir: '/w', cmd: ['x'] });
  assert.throws(() => spec('FROM debian\nCOPY a /b'), /final stage must be FROM scratch, not debian/);
  assert.throws(() => spec('FROM scratch\nRUN true'), (error: Error) => error instanceof DockerfileError && /line 2: RUN in the final stage/.test(error.message));
  assert.throws(() => spec('FROM scratch\nENTRYPOINT /bin/agent'), /ENTRYPOINT must be in exec \(JSON\) form: the image has no shell/);
  assert.throws(() => spec('COPY a b\nFROM scratch'), /line 1: COPY before the first FROM/);
  assert.throws(() => parseStages('FROM --platform=x a'), /FROM flags are not supported/);
  assert.throws(() => debianSuite({ base: 'ubuntu:24.04', instructions: [] }), /not debian:<suite>/);
  assert.equal(debianSuite({ base: 'docker.io/library/debian:trixie', instructions: [] }), 'trixie');
});
