// The doctor's read of the node's macvlan networks (issue 20): every network config in the CNI
// config directory with a bridgeway plugin in `"mode": "macvlan"` (a Multus secondary network, a
// conflist of the admin's), its keys as written. The agent never imports the plugin, so the keys
// are read loosely here; what they mean for the node is checks/macvlan.ts's.
import fs from 'node:fs';
import path from 'node:path';
import { PLUGIN_TYPE } from '../../lib/names.ts';
import type { MacvlanNetworkFacts } from './facts.ts';

export function gatherMacvlan(cniConfDir: string): MacvlanNetworkFacts[] {
  let files: string[];
  try {
    files = fs.readdirSync(cniConfDir).filter((f) => /\.(conf|conflist|json)$/.test(f)).sort();
  } catch {
    return [];
  }
  return files.flatMap((file) => {
    const where = path.join(cniConfDir, file);
    let doc: { name?: unknown; plugins?: unknown[]; type?: unknown } & Record<string, unknown>;
    try {
      doc = JSON.parse(fs.readFileSync(where, 'utf8'));
    } catch {
      return []; // not JSON: the conflist check speaks for our own file, and another's is not ours to judge
    }
    const plugins = Array.isArray(doc.plugins) ? doc.plugins : [doc];
    return plugins.flatMap((p) => {
      const plugin = p as Record<string, unknown>;
      if (plugin?.type !== PLUGIN_TYPE || plugin.mode !== 'macvlan') return [];
      return [{
        path: where,
        network: typeof doc.name === 'string' ? doc.name : '?',
        ...(typeof plugin.master === 'string' ? { master: plugin.master } : {}),
        macvlanMode: typeof plugin.macvlanMode === 'string' ? plugin.macvlanMode : 'bridge',
        ...(typeof plugin.mtu === 'number' ? { mtu: plugin.mtu } : {}),
        hostShim: plugin.hostShim === true || plugin.hostShim === 'true',
      }];
    });
  });
}
