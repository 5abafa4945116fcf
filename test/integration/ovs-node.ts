// A test node (its own network namespace) with its own ovsdb-server and ovs-vswitchd: what every
// single-node Open vSwitch test runs in. Both daemons and the namespace go, also on failure.
import { TestOvs } from '../support/ovs.ts';
import { TestNode } from './harness.ts';

export async function withOvs(fn: (node: TestNode, ovs: TestOvs) => Promise<void>): Promise<void> {
  const node = await TestNode.create();
  try {
    const ovs = await TestOvs.start(node.lab, node.name);
    try {
      await fn(node, ovs);
    } finally {
      await ovs.stop();
    }
  } finally {
    await node.cleanup();
  }
}
