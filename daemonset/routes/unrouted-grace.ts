// How loudly to say "peer not routed". While a cluster is being installed, or a node joins, each
// new peer is unroutable for a while: kubelet registers its Node before its agent runs (the image
// is pulled first) and publishes its eth1 address, and kube-controller-manager assigns it a
// podCIDR a moment after registration. Such pending problems (PeerProblem / Unreachable
// `pending` in nodes/peers.ts and routes/plan.ts: no podCIDR yet, no address yet, or only an
// InternalIP off eth1's segment for want of the annotation) are logged at info during a grace
// period that starts when the peer first appears in this agent's node list (for the peers listed
// at the agent's start: at its start), and as a warning when they outlast it. A wrong value (an
// annotation off the segment, an overlapping podCIDR, a family mismatch) is a warning at once.
//
// Two minutes: registration to podCIDR takes seconds; an agent's start on a new node is bounded by
// its image pull (130 MB compressed today) and its first sync (well under a second). A peer still
// pending after that is worth a warning. The warning comes at the first sync after the grace ends
// (every --resync, 30 s by default, or at any node change), not on a timer of its own.
import type { Clock } from '../loop/clock.ts';

export const UNROUTED_GRACE_MS = 120_000;

export interface UnroutedPeer {
  peer: string;
  reason: string;
  pending?: true;
}

export class UnroutedGrace {
  private readonly clock: Pick<Clock, 'now'>;
  private readonly graceMs: number;
  /** When each node in the list was first seen; nodes that leave are forgotten. */
  private readonly firstSeen = new Map<string, number>();

  constructor(clock: Pick<Clock, 'now'>, graceMs = UNROUTED_GRACE_MS) {
    this.clock = clock;
    this.graceMs = graceMs;
  }

  /** The node list of this sync: new names start their grace now; names no longer listed are dropped. */
  observe(names: readonly string[]): void {
    const now = this.clock.now();
    const listed = new Set(names);
    for (const name of this.firstSeen.keys()) if (!listed.has(name)) this.firstSeen.delete(name);
    for (const name of listed) if (!this.firstSeen.has(name)) this.firstSeen.set(name, now);
  }

  /** 'info' for a pending problem of a peer still in its grace period; 'warn' for anything else. */
  level(problem: UnroutedPeer): 'info' | 'warn' {
    if (!problem.pending) return 'warn';
    const since = this.firstSeen.get(problem.peer) ?? this.clock.now();
    return this.clock.now() - since < this.graceMs ? 'info' : 'warn';
  }
}

/** "2m", "90s": a grace period as the log line says it. */
export function formatGrace(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}
