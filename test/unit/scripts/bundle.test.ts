// scripts/bundle.ts's split bundle: what loads at start is followed through static imports only,
// so a module reached by a dynamic import (the agent, in the one executable) may be in the bundle
// but not at start, and a static import of it fails the build. On fixtures written here, and on
// the real entry (bin/bridgeway.ts), whose start must hold the plugin and none of the agent.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleSplit } from '../../../scripts/bundle.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

describe('bundleSplit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-bundle-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (files: Record<string, string>) => {
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), text);
    }
  };
  /** The fixture's "agent" folder as the build names it: relative to the working directory, ending in "/". */
  const agentFolder = () => `${path.relative(process.cwd(), path.join(dir, 'agent'))}/`;

  // Quotes as \x22, so that the import-rules test's scan does not read the fixtures as imports.
  test('a module behind a dynamic import is in the bundle, not at start', async () => {
    write({ 'entry.ts': 'import { a } from \x22./a.ts\x22;\nif (process.argv[2]) void import(\x22./agent/late.ts\x22).then((m) => m.late());\nelse a();\n', 'a.ts': 'export const a = () => 1;\n', 'agent/late.ts': 'export const late = () => 2;\n' });
    const out = await bundleSplit({ entry: path.join(dir, 'entry.ts'), output: path.join(dir, 'out', 'x'), startForbidden: [agentFolder()] });
    assert.ok(fs.existsSync(out.entry));
    assert.ok(out.startBytes < out.bytes, `start ${out.startBytes} of ${out.bytes} bytes`);
  });

  test('with several dynamic imports, the start is still the entry\'s own output (esbuild may list another chunk first)', async () => {
    write({ 'entry3.ts': 'import { a } from \x22./a.ts\x22;\nif (process.argv[2]) void import(\x22./agent/late.ts\x22).then((m) => m.late());\nelse if (process.argv[3]) void import(\x22./z-mode.ts\x22).then((m) => m.z());\nelse a();\n', 'z-mode.ts': 'export const z = () => 3;\n' });
    const out = await bundleSplit({ entry: path.join(dir, 'entry3.ts'), output: path.join(dir, 'out3', 'x'), startForbidden: [agentFolder()] });
    assert.match(fs.readFileSync(out.entry, 'utf8'), /process\.argv\[3\]/);
  });

  test('a static import of a start-forbidden module fails the build, naming it', async () => {
    write({ 'entry2.ts': 'import { late } from \x22./agent/late.ts\x22;\nlate();\n' });
    await assert.rejects(bundleSplit({ entry: path.join(dir, 'entry2.ts'), output: path.join(dir, 'out2', 'x'), startForbidden: [agentFolder()] }),
      (error: Error) => error.message.includes(`${agentFolder()} must not load at start-up, only through a dynamic import (${agentFolder()}late.ts is reached statically`));
  });

  test('the one executable: the plugin at start, the agent and its libraries only behind the dynamic import', async () => {
    const cwd = process.cwd();
    process.chdir(ROOT); // metafile paths are relative to the working directory, as in `npm run build`
    try {
      const out = await bundleSplit({ entry: 'bin/bridgeway.ts', output: path.join(dir, 'exe', 'bridgeway'), startForbidden: ['daemonset/', '@kubernetes/client-node', 'js-yaml', 'execa'] });
      const start = fs.readFileSync(out.entry, 'utf8');
      assert.match(start, /CNI_COMMAND/, 'the plugin is in the entry');
      assert.ok(out.startBytes < out.bytes / 2, `start ${out.startBytes} of ${out.bytes} bytes`);
    } finally {
      process.chdir(cwd);
    }
  });
});
