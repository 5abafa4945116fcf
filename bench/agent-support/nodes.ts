// The simulated cluster the agent is told about: N nodes in a nodes file, node-0 being the one
// the agent runs as. podCIDRs 10.<i/256>.<i%256>.0/24 (unique up to 65,536 nodes), eth1 addresses
// on 192.168.0.0/16 (node-0 = 192.168.0.1, the node netns' own eth1 address).
import fs from 'node:fs';
import path from 'node:path';

export const SELF = 'node-0';
export const CLUSTER_CIDR = '10.0.0.0/8';

export interface NodeSpec {
  name: string;
  podCIDR: string;
  eth1IP: string;
}

export function clusterOf(count: number): NodeSpec[] {
  if (count > 65_000) throw new Error('at most 65,000 nodes fit this addressing');
  return Array.from({ length: count }, (_, i) => ({
    name: `node-${i}`,
    podCIDR: `10.${i >> 8}.${i & 255}.0/24`,
    eth1IP: i === 0 ? '192.168.0.1' : `192.168.${1 + (i >> 8)}.${i & 255}`,
  }));
}

/** The rep-th measured change: a peer (never node-0), spread over the cluster, gets a new eth1 address. */
export function movePeer(specs: NodeSpec[], rep: number): NodeSpec {
  const k = 1 + ((rep * 7919 + 13) % (specs.length - 1));
  const moved = specs[k]!;
  moved.eth1IP = `192.168.${100 + (rep % 100)}.${k & 255}`;
  return moved;
}

/** The same flow-style YAML the netns e2e harness writes. */
export function nodesYaml(specs: readonly NodeSpec[]): string {
  return ['nodes:', ...specs.map((s) => `  - {name: ${s.name}, podCIDR: ${s.podCIDR}, eth1IP: ${s.eth1IP}}`)].join('\n') + '\n';
}

/**
 * The nodes file lives alone in its directory (the agent watches the directory); rewrites are
 * staged in a sibling directory and renamed in, like a ConfigMap update, so the only event the
 * agent sees is the rename.
 */
export class NodesFile {
  readonly file: string;
  private readonly staging: string;

  private readonly format: 'yaml' | 'json';

  constructor(dir: string, format: 'yaml' | 'json' = 'yaml') {
    fs.mkdirSync(path.join(dir, 'nodes'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'staging'), { recursive: true });
    this.format = format;
    this.file = path.join(dir, 'nodes', `nodes.${format}`);
    this.staging = path.join(dir, 'staging', `nodes.${format}`);
  }

  /** Stages the new content; returns a function doing the rename and returning its start time. */
  stage(specs: readonly NodeSpec[]): () => number {
    fs.writeFileSync(this.staging, this.format === 'json' ? JSON.stringify({ nodes: specs }) : nodesYaml(specs));
    return () => {
      const at = performance.now();
      fs.renameSync(this.staging, this.file);
      return at;
    };
  }

  write(specs: readonly NodeSpec[]): void {
    this.stage(specs)();
  }
}

export interface KernelRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** Problems with the agent's routes (`ip -j route show proto 77`) against the nodes; [] when right. */
export function checkRoutes(specs: readonly NodeSpec[], routes: readonly KernelRouteJson[]): string[] {
  const expected = new Map(specs.filter((s) => s.name !== SELF).map((s) => [s.podCIDR, s.eth1IP]));
  const problems: string[] = [];
  if (routes.length !== expected.size) problems.push(`${routes.length} routes, expected ${expected.size}`);
  let shown = 0;
  for (const route of routes) {
    const want = expected.get(route.dst);
    const problem =
      want === undefined ? `unexpected route ${route.dst}` :
      route.gateway !== want ? `${route.dst} via ${route.gateway}, expected via ${want}` :
      route.dev !== 'eth1' ? `${route.dst} dev ${route.dev}, expected dev eth1` : undefined;
    if (problem && shown++ < 5) problems.push(problem);
  }
  return problems;
}
