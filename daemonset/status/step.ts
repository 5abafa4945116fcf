// Step: tell the cluster what the node's network can do: the NetworkUnavailable condition (as
// flannel and calico set it), and a Warning event when the runtime cannot use our conflist.
// Each is written once per change; a failed write is retried by the next sync.
import { OncePerChange } from '../loop/once-per-change.ts';
import type { SyncStep } from '../loop/step.ts';
import type { NodeSync } from '../loop/sync.ts';
import type { NodeStatusApi } from '../nodes/source.ts';
import { MISMATCH_EVENT_REASON } from '../../lib/names.ts';

const AVAILABLE_MESSAGE = 'bridgeway routes and rules are in place';

export interface StatusInput {
  /** Why the runtime cannot use the conflist, when it provably cannot (conflist/step.ts). */
  mismatch?: string;
  /** Why there is no conflist yet: its first write waits for the NetworkPolicy table. */
  held?: string;
}

export class StatusReport implements SyncStep<NodeSync, 'status'> {
  readonly name = 'status';
  private readonly deps: { nodeName: string; nodeStatus?: NodeStatusApi };
  private readonly condition = new OncePerChange();
  /** The mismatch last reported by an event; '' while there is none. */
  private readonly event = new OncePerChange('');

  constructor(deps: { nodeName: string; nodeStatus?: NodeStatusApi }) {
    this.deps = deps;
  }

  async run(sync: NodeSync): Promise<void> {
    const { mismatch, held } = sync.found.conflist ?? {};
    await this.report({ ...(mismatch && { mismatch }), ...(held && { held }) });
  }

  async report(input: StatusInput): Promise<{ networkUnavailable: boolean; message: string }> {
    const { nodeName, nodeStatus } = this.deps;
    // Held: no pod may be scheduled here before the node's policies are enforced (the condition
    // taints the node); a moment at first start, or until the cause in /readyz is fixed.
    const networkUnavailable = input.mismatch !== undefined || input.held !== undefined;
    const message = input.mismatch ? `bridgeway: ${input.mismatch}`
      : input.held ? `bridgeway: the conflist waits for the NetworkPolicy table: ${input.held}` : AVAILABLE_MESSAGE;
    if (!nodeStatus) return { networkUnavailable, message };
    // The event first: it says what to fix, the condition only that pods cannot start.
    const mismatch = input.mismatch;
    await this.event.whenChangedAsync(mismatch ?? '', async () => {
      if (mismatch) await nodeStatus.recordNodeEvent(nodeName, { type: 'Warning', reason: MISMATCH_EVENT_REASON, message: mismatch });
    });
    await this.condition.whenChangedAsync(`${networkUnavailable} ${message}`, () => nodeStatus.setNetworkUnavailable(nodeName, networkUnavailable, message));
    return { networkUnavailable, message };
  }
}
