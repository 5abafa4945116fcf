// A Dockerfile stage as the bash script build-image.sh runs in mmdebstrap's root. Here the script
// runs with `chroot` replaced by a shell function that runs the command in place, so what a RUN
// sees (its ARGs, ENVs and quoting) is checked without a Debian root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseStages } from '../../../../scripts/image/dockerfile.ts';
import { DEBIAN_PATH, shellQuote, stageScript } from '../../../../scripts/image/stage-script.ts';

test('shellQuote survives quotes, $, backslashes and newlines', () => {
  for (const text of [`it's`, '$HOME `x` \\n', 'a\nb', '', `'`]) {
    assert.equal(spawnSync('bash', ['-c', `printf %s ${shellQuote(text)}`], { encoding: 'utf8' }).stdout, text);
  }
});

test('COPY, ARG (a build argument wins), ENV, WORKDIR and RUN, in order; other instructions are refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-stage-'));
  try {
    const out = path.join(dir, 'out');
    const [stage] = parseStages([
      'FROM debian:bookworm-slim AS rootfs',
      'ARG SOURCE_DATE_EPOCH=0',
      'ARG FLAVOUR=plain',
      `ENV GREETING="hello there" OUT=${out}`,
      'COPY cut.sh /image/',
      `RUN echo "$SOURCE_DATE_EPOCH $FLAVOUR $GREETING $PATH it's" > "$OUT"`,
      'WORKDIR /work',
      'RUN true',
    ].join('\n'));
    fs.writeFileSync(path.join(dir, 'cut.sh'), 'x');
    fs.chmodSync(path.join(dir, 'cut.sh'), 0o750);
    const script = stageScript(stage!, {
      localFile: (from, source) => (assert.equal(from, undefined), path.join(dir, source)),
      modeOf: (file) => fs.statSync(file).mode,
      buildArgs: { SOURCE_DATE_EPOCH: '1234' },
    });
    const lines = script.trim().split('\n');
    assert.deepEqual(lines.slice(1, 4), ['set -euo pipefail', 'root=$1', `install -D -m 750 '${dir}/cut.sh' "$root"'/image/cut.sh'`]);
    assert.match(lines[4]!, /^chroot "\$root" \/usr\/bin\/env -i 'PATH=[^']+' 'HOME=\/root' 'SOURCE_DATE_EPOCH=1234' 'FLAVOUR=plain' 'GREETING=hello there' 'OUT=[^']+' \/bin\/sh -c 'cd '\\''\/'\\'' && echo/);
    assert.equal(lines[5], `mkdir -p "$root"'/work'`);
    assert.match(lines[6]!, /\/bin\/sh -c 'cd '\\''\/work'\\'' && true'$/);

    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    // The RUN in /work is left out: it would cd into the machine's /work.
    const inPlace = `chroot() { shift; "$@"; }\n${script.split('\n').filter((l) => !l.includes("'cd '\\''/work")).join('\n')}`;
    const ran = spawnSync('bash', ['-c', inPlace, 'script', root], { encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(fs.statSync(path.join(root, 'image/cut.sh')).mode & 0o777, 0o750);
    assert.equal(fs.readFileSync(out, 'utf8'), `1234 plain hello there ${DEBIAN_PATH} it's\n`);
    assert.throws(() => stageScript(parseStages('FROM debian:bookworm\nUSER nobody')[0]!, { localFile: () => '', modeOf: () => 0, buildArgs: {} }), /line 2: USER in stage \(unnamed\) is not reproduced/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
