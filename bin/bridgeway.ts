// The one executable's entry (dist/bridgeway): decides the role (role.ts), then starts it. The
// plugin's code is loaded here, at start-up, because the plugin's cold start is every pod's start;
// the agent's is loaded only when the agent runs (a dynamic import; scripts/build.ts keeps it out
// of what a plugin start loads), so a plugin start never pays for the Kubernetes client or the
// YAML parser.
import fs from 'node:fs';
import path from 'node:path';
import { CURRENT_VERSION } from '../lib/cni-version.ts';
import { runPluginProcess } from '../cni/main.ts';
import { startWithJscOptions } from './jsc-options.ts';
import { chooseRole, usage } from './role.ts';

/** CNI_COMMAND was set: a runtime waits for a CNI document on stdout (SPEC.md "Error"; 7: the config's "type" chose this file). */
function refuseAsPlugin(message: string): never {
  fs.writeSync(1, JSON.stringify({ cniVersion: CURRENT_VERSION, code: 7, msg: message }) + '\n');
  process.exit(1);
}

// argv0, not argv[0]: Bun reports "bun" there, Node its own path; argv0 is what the caller
// exec'd (the symlink's name, not its target). The arguments follow the runtime's two entries.
const role = chooseRole(path.basename(process.argv0), process.argv.slice(2), process.env);
switch (role.role) {
  case 'plugin':
    runPluginProcess();
    break;
  case 'agent':
    startWithJscOptions(); // on Bun, the first time: does not return (jsc-options.ts)
    // No top-level await: the bundle is CommonJS.
    void import('../daemonset/main.ts').then(({ runAgentProcess }) => runAgentProcess(role.args));
    break;
  case 'usage':
    process.stdout.write(usage());
    process.exit(0);
    break;
  case 'refuse':
    if (role.cni) refuseAsPlugin(role.message);
    process.stderr.write(`bridgeway: ${role.message}\n${usage()}`);
    process.exit(2);
}
