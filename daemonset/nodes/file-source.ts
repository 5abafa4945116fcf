// Standalone mode: the peers come from a YAML or JSON file instead of the Kubernetes API,
// for plain containerd/nerdctl hosts and for the demo.
//   nodes:
//     - { name: node-a, podCIDR: 10.244.1.0/24, eth1IP: 192.168.50.11 }   (podCIDR optional)
//     - { name: node-b, podCIDRs: [10.244.2.0/24, fd00:10:244:2::/64], eth1IPs: [192.168.50.12, fd00:50::12] }
// (dual-stack: one value per family, in either order; IPv6 values quoted or not).
// The file is watched (its directory, so editors' and ConfigMaps' rename-into-place is seen) and
// re-read whenever it changes; a broken edit keeps the last good view and is logged.
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { parseCidr, parseIp } from '../../lib/cidr.ts';
import { type ClusterNode } from './peers.ts';
import type { NodeSource } from './source.ts';
import { ETH1_ANNOTATIONS } from '../../lib/names.ts';

export class NodesFileError extends Error {
  override name = 'NodesFileError';
}

/** Pure: file text -> nodes, with errors that name the entry and field. */
export function parseNodesFile(text: string): ClusterNode[] {
  let doc: unknown;
  try {
    // JSON is YAML too, but JSON.parse reads a 5,000-node file ~20x faster than the YAML parser.
    // The core schema (YAML 1.2 types: strings, numbers, booleans, null) is ~35% faster than
    // js-yaml's default, whose timestamp/binary/merge types a nodes file never uses.
    doc = text.trimStart().startsWith('{') ? JSON.parse(text) : yaml.load(text, { schema: yaml.CORE_SCHEMA });
  } catch (error) {
    throw new NodesFileError(`not valid YAML/JSON: ${errorMessage(error)}`);
  }
  const list = (doc as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(list)) throw new NodesFileError('expected a top-level "nodes:" list');
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const item = entry as Record<string, unknown> | null;
    if (typeof item?.name !== 'string' || !item.name) throw new NodesFileError(`nodes[${i}].name must be a non-empty string`);
    const name = item.name;
    if (seen.has(name)) throw new NodesFileError(`nodes[${i}]: duplicate name ${name}`);
    seen.add(name);
    // A node may be listed before it has a podCIDR, as in Kubernetes: it is then not routed to.
    const podCIDRs = oneOrMany(item, i, 'podCIDR', 'podCIDRs', false);
    const eth1IPs = oneOrMany(item, i, 'eth1IP', 'eth1IPs', true);
    const annotations: Record<string, string> = {};
    for (const [j, text] of eth1IPs.entries()) {
      const ip = parseIp(text);
      const field = 'eth1IPs' in item ? `nodes[${i}].eth1IPs[${j}]` : `nodes[${i}].eth1IP`;
      if (!ip) throw new NodesFileError(`${field} must be an IPv4 or IPv6 address, got ${JSON.stringify(text)}`);
      const key = ETH1_ANNOTATIONS[ip.family];
      if (annotations[key]) throw new NodesFileError(`nodes[${i}].eth1IPs has two IPv${ip.family} addresses (${annotations[key]}, ${text}): one per family`);
      annotations[key] = text;
    }
    const families = new Map<number, string>();
    for (const [j, text] of podCIDRs.entries()) {
      const cidr = parseCidr(text);
      const field = 'podCIDRs' in item ? `nodes[${i}].podCIDRs[${j}]` : `nodes[${i}].podCIDR`;
      if (!cidr) throw new NodesFileError(`${field} must be a CIDR like 10.244.1.0/24 or fd00:10:244:1::/64, got ${JSON.stringify(text)}`);
      if (families.has(cidr.family)) throw new NodesFileError(`nodes[${i}].podCIDRs has two IPv${cidr.family} CIDRs (${families.get(cidr.family)}, ${text}): one per family`);
      families.set(cidr.family, text);
      if (!annotations[ETH1_ANNOTATIONS[cidr.family]]) {
        throw new NodesFileError(`nodes[${i}] (${name}) has the IPv${cidr.family} podCIDR ${text} but no IPv${cidr.family} address in eth1IPs: its pods of that family could not be routed to`);
      }
    }
    return { name, podCIDRs, internalIPs: [], annotations };
  });
}

/**
 * A field that takes one value (`podCIDR: x`) or a list of one per family (`podCIDRs: [x, y]`),
 * not both. YAML may give an unquoted IPv6 value as a string already (the core schema has no
 * sexagesimal numbers), but anything else is refused by name.
 */
function oneOrMany(item: Record<string, unknown>, i: number, single: string, list: string, required: boolean): string[] {
  if (single in item && list in item) throw new NodesFileError(`nodes[${i}]: give ${single} or ${list}, not both`);
  if (list in item) {
    const values = item[list];
    if (!Array.isArray(values) || values.length > 2 || values.some((v) => typeof v !== 'string' || !v)) {
      throw new NodesFileError(`nodes[${i}].${list} must be a list of one or two non-empty strings (one per family)`);
    }
    if (required && values.length === 0) throw new NodesFileError(`nodes[${i}].${list} must not be empty`);
    return values as string[];
  }
  const value = item[single];
  if (value === undefined || value === null || value === '') {
    if (required) throw new NodesFileError(`nodes[${i}].${single} must be a non-empty string (or ${list}: one per family)`);
    return [];
  }
  if (typeof value !== 'string') throw new NodesFileError(`nodes[${i}].${single} must be a string`);
  return [value];
}

export class NodesFileSource implements NodeSource {
  private readonly file: string;
  private readonly log: Logger;
  private readonly onChange: () => void;
  private readonly afterLoad: () => void;
  private watcher: fs.FSWatcher | undefined;
  private current: ClusterNode[] = [];
  private loadedText: string | undefined;
  private valid = false;

  /** `afterLoad` runs after a file was parsed (loop/memory.ts: the agent collects the parser's garbage there). */
  constructor(options: { file: string; log: Logger; onChange: () => void; afterLoad?: () => void }) {
    this.file = path.resolve(options.file);
    this.log = options.log;
    this.onChange = options.onChange;
    this.afterLoad = options.afterLoad ?? (() => {});
  }

  start(): void {
    this.reload();
    this.watcher = fs.watch(path.dirname(this.file), () => {
      if (this.reload()) this.onChange();
    });
  }

  stop(): void {
    this.watcher?.close();
  }

  nodes(): ClusterNode[] {
    this.reload(); // the periodic resync also catches changes a watch missed
    return this.current;
  }

  connected(): boolean {
    return this.valid;
  }

  /** Re-reads the file; true when the view changed. */
  private reload(): boolean {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if (this.valid || this.loadedText === undefined) this.log.error({ file: this.file, err: errorMessage(error) }, 'cannot read the nodes file');
      this.valid = false;
      this.loadedText = '';
      return false;
    }
    if (text === this.loadedText) return false;
    this.loadedText = text;
    try {
      this.current = parseNodesFile(text);
      this.valid = true;
      this.log.info({ file: this.file, nodes: this.current.length }, 'nodes file loaded');
      this.afterLoad();
      return true;
    } catch (error) {
      this.valid = false;
      this.log.error({ file: this.file, err: errorMessage(error) }, 'nodes file rejected; keeping the last good view');
      return false;
    }
  }
}
