// `bridgeway-agent uninstall --serve`: what manifests/uninstall.yaml runs once on every node, and
// how it tells `kubectl rollout status` / `kubectl wait` that it has finished.
//
// 1. Wait for the agent to be gone from this node. Both listen on the health address in the
//    node's network namespace (hostNetwork), so while the agent runs the address is in use: the
//    daemon waits, says why once, and tries again every 2 s. Holding the address afterwards also
//    keeps an agent started by mistake from reinstalling what this removes: the agent binds it
//    before its first sync and exits when it cannot.
// 2. Uninstall (uninstall.ts). Steps that fail are retried, all of them, with the agent's backoff
//    (1 s doubling to 30 s): every step is idempotent, and an API server that is briefly away or
//    RBAC applied a moment late should not need an admin.
// 3. Once everything is removed, log one line and answer GET /uninstalled with 200: the pod's
//    readiness probe, so the pod turns Ready. Until then /uninstalled is 503 with what it waits
//    for. The path is not /readyz: while the agent still answers on the same address its 200
//    there must not make this pod Ready. The process then stays up (a DaemonSet restarts a
//    container that exits, which would run the uninstall again and again) until SIGTERM.
import { errnoCode, errorMessage } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { Backoff } from './loop/backoff.ts';
import type { Clock } from './loop/clock.ts';
import { OncePerChange } from './loop/once-per-change.ts';
import type { HttpReply } from './serve/health.ts';

/** How often to look whether the agent has released the health address. */
export const AGENT_GONE_POLL_MS = 2000;

export interface UninstallDaemonDeps {
  clock: Clock;
  log: Logger;
  nodeName: string;
  /** host:port, for messages. */
  address: string;
  /** Starts serving `route` on the health address; rejects (EADDRINUSE) while something holds it. */
  listen: (route: (path: string) => HttpReply) => Promise<{ close(): void }>;
  /** One uninstall of everything; resolves with what failed (empty: all removed). */
  uninstall: () => Promise<string[]>;
}

type State =
  | { phase: 'waiting-for-agent' }
  | { phase: 'uninstalling'; attempt: number; failures?: string[] }
  | { phase: 'done' }
  | { phase: 'stopped' };

export class UninstallDaemon {
  private readonly deps: UninstallDaemonDeps;
  private state: State = { phase: 'waiting-for-agent' };
  private server: { close(): void } | undefined;
  private timer: unknown;
  private readonly backoff = new Backoff();
  private readonly waiting = new OncePerChange();
  private finished!: (error?: unknown) => void;
  /** Resolves once the uninstall is complete (or the daemon stopped); rejects when it cannot listen for another reason. */
  readonly done: Promise<void>;

  constructor(deps: UninstallDaemonDeps) {
    this.deps = deps;
    this.done = new Promise<void>((resolve, reject) => {
      this.finished = (error) => (error === undefined ? resolve() : reject(error));
    });
  }

  start(): void {
    this.deps.log.info({ address: this.deps.address }, `uninstall on node ${this.deps.nodeName}: waiting until the agent no longer runs here`);
    void this.bind();
  }

  /** SIGTERM: stop waiting or retrying, close the server. */
  stop(): void {
    this.deps.clock.clearTimeout(this.timer);
    this.server?.close();
    if (this.state.phase !== 'done') this.state = { phase: 'stopped' };
    this.finished();
  }

  /** What GET <path> answers. */
  route(path: string): HttpReply {
    if (path === '/healthz') return { status: 200, body: 'ok\n' };
    if (path !== '/uninstalled') return { status: 404, body: 'not found: try /uninstalled or /healthz\n' };
    const state = this.state;
    if (state.phase === 'done') return { status: 200, body: `uninstalled: nothing of bridgeway is left on node ${this.deps.nodeName}\n` };
    if (state.phase === 'uninstalling') {
      return { status: 503, body: state.failures ? `not yet: attempt ${state.attempt} left ${state.failures.length} thing(s), retrying:\n${state.failures.map((f) => `${f}\n`).join('')}` : `not yet: uninstalling (attempt ${state.attempt})\n` };
    }
    return { status: 503, body: state.phase === 'stopped' ? 'stopping\n' : 'not yet: waiting until the agent no longer runs on this node\n' };
  }

  /** Stopped by SIGTERM (a method, so the checks after each await are not narrowed away). */
  private stopped(): boolean {
    return this.state.phase === 'stopped';
  }

  private async bind(): Promise<void> {
    if (this.stopped()) return;
    try {
      this.server = await this.deps.listen((path) => this.route(path));
    } catch (error) {
      if (errnoCode(error) !== 'EADDRINUSE') {
        this.finished(new Error(`cannot listen on ${this.deps.address}: ${errorMessage(error)}`, { cause: error }));
        return;
      }
      this.waiting.whenChanged('in use', () => this.deps.log.warn({ address: this.deps.address },
        `waiting: ${this.deps.address} is in use: the bridgeway agent still runs on this node; delete its DaemonSet first (kubectl -n kube-system delete daemonset bridgeway)`));
      this.timer = this.deps.clock.setTimeout(() => void this.bind(), AGENT_GONE_POLL_MS);
      return;
    }
    if (this.stopped()) {
      this.server.close();
      return;
    }
    this.deps.log.info({ address: this.deps.address }, 'the agent no longer runs on this node: uninstalling');
    await this.attempt(1);
  }

  private async attempt(attempt: number): Promise<void> {
    if (this.stopped()) return;
    const previous = this.state.phase === 'uninstalling' ? this.state.failures : undefined;
    this.state = { phase: 'uninstalling', attempt, ...(previous && { failures: previous }) };
    let failures: string[];
    try {
      failures = await this.deps.uninstall();
    } catch (error) {
      failures = [errorMessage(error)];
    }
    if (this.stopped()) return;
    if (failures.length === 0) {
      this.state = { phase: 'done' };
      this.deps.log.info({ attempts: attempt }, `uninstall finished: nothing of bridgeway is left on node ${this.deps.nodeName}; this pod stays Ready until its DaemonSet is deleted`);
      this.finished();
      return;
    }
    this.state = { phase: 'uninstalling', attempt, failures };
    const retryInMs = this.backoff.fail();
    for (const failure of failures) this.deps.log.error({ attempt, retryInMs }, `uninstall: ${failure}`);
    this.timer = this.deps.clock.setTimeout(() => void this.attempt(attempt + 1), retryInMs);
  }
}
