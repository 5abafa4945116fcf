// The doctor's read of every network config in the CNI config directory: each bridgeway plugin
// entry with its file and network name, keys as written (a Multus secondary network, a conflist of
// the admin's). The agent never imports the plugin, so the keys are read loosely: what a mode's
// keys mean for the node is that mode's check's (checks/macvlan.ts, checks/ovs.ts).
import fs from 'node:fs';
import path from 'node:path';
import { PLUGIN_TYPE } from '../../lib/names.ts';

export interface BridgewayPluginConfig {
  path: string;
  network: string;
  plugin: Record<string, unknown>;
}

export function bridgewayPluginConfigs(cniConfDir: string): BridgewayPluginConfig[] {
  let files: string[];
  try {
    files = fs.readdirSync(cniConfDir).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort();
  } catch {
    return [];
  }
  return files.flatMap((file) => {
    const where = path.join(cniConfDir, file);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(fs.readFileSync(where, 'utf8')) as Record<string, unknown>;
    } catch {
      return []; // not JSON: the conflist check speaks for our own file, and another's is not ours to judge
    }
    const network = typeof doc.name === 'string' ? doc.name : '?';
    const plugins = Array.isArray(doc.plugins) ? (doc.plugins as Record<string, unknown>[]) : [doc];
    return plugins.filter((p) => p?.type === PLUGIN_TYPE).map((plugin) => ({ path: where, network, plugin }));
  });
}
