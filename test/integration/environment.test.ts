// Runtimes pass plugins their whole environment (libcni hands on its own) and start them in a
// directory of their choosing. Nothing in either may run code in the plugin or print on stdout,
// which carries exactly the CNI result. Each case is a variable (or file) that changes what a Bun
// or Node executable does before any of our code runs; scripts/bun.ts says how each is disarmed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PLUGIN } from './harness.ts';

const skip = !fs.existsSync(PLUGIN) && 'dist/bridgeway is missing: run npm run build';

/** A script that leaves a marker file and prints on stdout, as foreign code in the plugin would. */
function injection(dir: string): { script: string; marker: string } {
  const marker = path.join(dir, 'injected');
  const script = path.join(dir, 'inject.js');
  fs.writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); process.stdout.write('INJECTED\\n');\n`);
  return { script, marker };
}

const cases: { name: string; env?: (script: string, dir: string) => Record<string, string>; files?: (script: string) => Record<string, string> }[] = [
  { name: 'NODE_OPTIONS=--require', env: (s) => ({ NODE_OPTIONS: `--require ${s}` }) },
  { name: 'BUN_OPTIONS=--preload', env: (s) => ({ BUN_OPTIONS: `--preload ${s}` }) },
  { name: 'BUN_OPTIONS=--revision (prints on stdout)', env: () => ({ BUN_OPTIONS: '--revision' }) },
  { name: 'BUN_BE_BUN=1 (the bun CLI, which prints its help)', env: () => ({ BUN_BE_BUN: '1' }) },
  { name: 'BUN_BE_BUN=1 with BUN_OPTIONS=--eval', env: (s) => ({ BUN_BE_BUN: '1', BUN_OPTIONS: `--eval require(${JSON.stringify(s)})` }) },
  { name: 'BUN_INSPECT with BUN_INSPECT_PRELOAD', env: (s) => ({ BUN_INSPECT: 'ws://127.0.0.1:1/x', BUN_INSPECT_PRELOAD: s }) },
  { name: 'NODE_PATH, NODE_DEBUG, NODE_V8_COVERAGE', env: (_s, dir) => ({ NODE_PATH: dir, NODE_DEBUG: 'fs,module', NODE_V8_COVERAGE: dir }) },
  { name: 'BUN_JSC_dumpOptions (JavaScriptCore logs on stderr only)', env: () => ({ BUN_JSC_dumpOptions: '1' }) },
  { name: 'bunfig.toml with preload in the working directory', files: (s) => ({ 'bunfig.toml': `preload = [${JSON.stringify(s)}]\n` }) },
  { name: 'a global .bunfig.toml in $HOME / $XDG_CONFIG_HOME', env: (_s, dir) => ({ HOME: dir, XDG_CONFIG_HOME: dir }), files: (s) => ({ '.bunfig.toml': `preload = [${JSON.stringify(s)}]\n` }) },
];

describe('the runtime\'s environment cannot run code in the plugin or print on its stdout', { skip }, () => {
  for (const c of cases) {
    test(c.name, () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-env-'));
      try {
        const { script, marker } = injection(dir);
        for (const [name, text] of Object.entries(c.files?.(script) ?? {})) fs.writeFileSync(path.join(dir, name), text);
        const out = spawnSync(PLUGIN, [], { cwd: dir, input: '{}', encoding: 'utf8', timeout: 20_000, env: { CNI_COMMAND: 'VERSION', ...c.env?.(script, dir) } });
        assert.equal(out.status, 0, out.stderr);
        assert.deepEqual(Object.keys(JSON.parse(out.stdout)), ['cniVersion', 'supportedVersions'], `stdout is exactly the result: ${out.stdout}`);
        assert.equal(out.stdout.trim().split('\n').length, 1);
        assert.ok(!fs.existsSync(marker), 'the injected script did not run');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('.env files in the working directory are not read into the environment', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-env-'));
    try {
      // dotenv never overrides a variable that is set, so the file supplies the missing command.
      for (const name of ['.env', '.env.production', '.env.local']) fs.writeFileSync(path.join(dir, name), 'CNI_COMMAND=VERSION\n');
      const out = spawnSync(PLUGIN, [], { cwd: dir, input: '{}', encoding: 'utf8', timeout: 20_000, env: {} });
      assert.equal(out.status, 1, out.stdout);
      assert.match(JSON.parse(out.stdout).msg, /CNI_COMMAND/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
