// Step: NetworkPolicy in the kernel on every full sync (after the node's routes, rules and
// conflist): the enforcer's own sync, asking the kernel first whether the table is still there,
// so a resync repairs a table someone flushed. Changes between syncs reach the kernel through the
// enforcer's debounced path (enforcer.ts), not through here. Without an enforcer (standalone mode:
// no API to watch) it does nothing.
import type { SyncStep } from '../loop/step.ts';
import type { NodeSync } from '../loop/sync.ts';
import type { NodePolicy } from './enforcer.ts';

export class NetworkPolicyStep implements SyncStep<NodeSync, 'network-policy'> {
  readonly name = 'network-policy';
  private readonly enforcer: NodePolicy | undefined;

  constructor(enforcer: NodePolicy | undefined) {
    this.enforcer = enforcer;
  }

  async run(): Promise<void> {
    await this.enforcer?.sync({ verify: true });
  }
}
