// The agent benchmark's throw-away world, on top of the shared Lab (namespaces, child processes,
// temp dir, cleanup): a "switch" netns holding the far ends of the node netns' eth1 veths, and one
// fresh node netns per measured run (eth1 = 192.168.0.1/16, so any peer address 192.168.x.y is
// on-link and the kernel accepts `via` it without the neighbour existing).
import { createRunner } from '../../lib/exec.ts';
import { uniquePrefix } from '../../test/support/lab.ts';
import { Lab } from '../support/lab.ts';

export const run = createRunner({ timeoutMs: 120_000 });
export const NODE_ADDRESS = '192.168.0.1/16';

export interface NodeNetns {
  name: string;
  path: string;
}

export class AgentLab extends Lab {
  readonly switchNetns: string;
  private seq = 0;

  private constructor(prefix: string) {
    super(prefix);
    this.switchNetns = `${prefix}-sw`;
  }

  static async create(): Promise<AgentLab> {
    const lab = new AgentLab(uniquePrefix('bwagent', true));
    try {
      await lab.addNamespace('sw', { loopbackUp: true });
    } catch (error) {
      lab.cleanup();
      throw error;
    }
    return lab;
  }

  /** A fresh node namespace whose eth1 (192.168.0.1/16) is a veth into the switch namespace. */
  async addNode(): Promise<NodeNetns> {
    const index = this.seq++;
    const name = await this.addNamespace(`n${index}`, { loopbackUp: true });
    const node = { name, path: this.netnsPath(name) };
    await this.addVeth({ netns: this.switchNetns, name: `p${index}` }, { netns: node.name, name: 'eth1', address: NODE_ADDRESS });
    return node;
  }

  /** Deleting the node namespace also removes its veth pair, routes and iptables rules. */
  async removeNode(node: NodeNetns): Promise<void> {
    await this.removeNamespace(node.name);
  }

  /** A fresh directory (a new one at every call) under the lab's temp dir. */
  mkdir(name: string): string {
    return this.subdir(`${name}-${this.seq++}`);
  }

  /** argv run inside a namespace (nsenter execs in place: the pid is the command's own). */
  inNetns(node: NodeNetns, argv: readonly string[], input?: string) {
    return run(['nsenter', `--net=${node.path}`, '--', ...argv], { input });
  }
}
