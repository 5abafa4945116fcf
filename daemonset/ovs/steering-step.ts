// The sync step that keeps steering.ts's flows on the Open vSwitch bridge (--bridge-type ovs), over
// OpenFlow 1.3 on the bridge's management socket <OVS_RUNDIR>/<bridge>.mgmt (OVS_RUNDIR: the
// database socket's directory, where ovs-vswitchd binds it). Every sync: the LOCAL port's MAC
// (PORT_DESC), our flows' cookies (FLOW stats by our cookie prefix), the missing flows added and
// the stale ones deleted, then a BARRIER; and IPv4 ICMP redirects off on the bridge's interface
// (the node routes a steered packet back out of the interface it came in on; a redirect would
// tell the pod to bypass the node, which the flows ignore anyway as they match IP addresses).
// IPv6 has no such switch: ip6_forward's redirect is rate-limited and, for the same reason,
// harmless.
// The plugin makes the bridge at the first pod's ADD: until then there is nothing to steer, and the
// step watches for the management socket (every WATCH_MS) to install the flows as soon as the
// bridge is there, without waiting for the next sync. The connection of the last good sync stays
// open: ovs-vswitchd keeps no flow across a restart, and the connection's end starts the same
// watch, so the flows are back as soon as the new ovs-vswitchd answers.
import fs from 'node:fs';
import path from 'node:path';
import type { IpCidr } from '../../lib/cidr.ts';
import { errorMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { connectOpenFlow, mgmtSocket, withOpenFlow, type OpenFlowClient } from '../../lib/openflow/client.ts';
import { OFPP } from '../../lib/openflow/protocol.ts';
import type { SyncStep } from '../loop/step.ts';
import type { NodeSync } from '../loop/sync.ts';
import { ensurePipeline, syncPortGuards } from '../../lib/openflow/guard-sync.ts';
import { DELETE_ALL_GUARDS } from '../../lib/openflow/port-guard.ts';
import { connectOvsdb, type OvsdbClient } from '../../lib/ovsdb/client.ts';
import { DELETE_ALL_STEERING, diffSteering, planSteeringFlows, STEERING_COOKIE_MASK, STEERING_COOKIE_PREFIX } from './steering.ts';

const WATCH_MS = 250;

export { mgmtSocket } from '../../lib/openflow/client.ts';

export type OpenFlowConnect = (socket: string) => Promise<OpenFlowClient>;

export interface SteeringDeps {
  log: Logger;
  ovsdbSocket: string;
  bridge: string;
  /** /proc/sys of the node's network namespace. */
  procSys?: string;
  connect?: OpenFlowConnect;
  /** The database (the guarded ports' Interfaces); lib/ovsdb/client.ts by default. */
  openOvsdb?: (socket: string) => Promise<OvsdbClient>;
  /** False on a Linux-bridge node: the step does nothing and says nothing. */
  enabled?: boolean;
}

/** Where the flows stand: in place, no bridge yet (nothing to steer), or why not. */
export type SteeringState = { inPlace: true; flows: number } | { noBridge: true } | { error: string } | { notYet: true };

/** Reads, plans and applies once: the flows the bridge must hold for these podCIDRs. */
export async function syncSteering(client: OpenFlowClient, podCIDRs: readonly IpCidr[]): Promise<{ flows: number; added: string[]; removed: number }> {
  const local = (await client.portDescs()).find((p) => p.portNo === OFPP.LOCAL);
  if (!local) throw new Error('the bridge reports no LOCAL port (its internal interface)');
  const wanted = planSteeringFlows({ podCIDRs, localMac: local.mac });
  const present = (await client.flowCookies(STEERING_COOKIE_PREFIX, STEERING_COOKIE_MASK)).map((f) => f.cookie);
  const change = diffSteering(wanted, present);
  // Table 1 is reached through the pipeline flows (table 0 goto 1, table 1 NORMAL).
  await ensurePipeline(client);
  // Added first: a changed flow (new MAC, new podCIDR) replaces the old one of the same match, so
  // there is no moment without steering; only then the leftovers go.
  if (change.add.length) await client.flowMods(change.add);
  if (change.remove.length) await client.flowMods(change.remove);
  return { flows: wanted.length, added: change.added, removed: change.remove.length };
}

/** Uninstall or steering off: every flow of ours, whatever it matches. */
export async function removeSteering(client: OpenFlowClient): Promise<void> {
  await client.flowMods([DELETE_ALL_STEERING]);
}

/**
 * `uninstall`: our flows off the bridge, steering, anti-spoofing guards and the pipeline (a bridge
 * left for a VM's port keeps switching normally, by OVS's own table-0 NORMAL flow); what it did in words.
 */
export async function uninstallSteering(ovsdbSocket: string, bridge: string, connect: OpenFlowConnect = connectOpenFlow): Promise<string> {
  const socket = mgmtSocket(ovsdbSocket, bridge);
  if (!fs.existsSync(socket)) return `no OpenFlow socket ${socket}: no bridge ${bridge}, or ovs-vswitchd is not running (flows do not outlive it)`;
  await withOpenFlow(socket, (client) => client.flowMods([DELETE_ALL_STEERING, ...DELETE_ALL_GUARDS]), connect);
  return `removed the same-node steering, anti-spoofing and pipeline flows of bridge ${bridge}`;
}

/** The anti-spoofing guards of the bridge's ports put back (after an ovs-vswitchd restart) and the gone ports' deleted. */
async function syncGuards(client: OpenFlowClient, ovsdb: () => Promise<OvsdbClient>, bridge: string, log: Logger): Promise<void> {
  const db = await ovsdb();
  try {
    const outcome = await syncPortGuards(client, db, bridge);
    if (outcome.installed.length || outcome.removed.length || outcome.pipelineAdded.length) {
      log.info({ bridge, restored: outcome.installed, removed: outcome.removed, pipeline: outcome.pipelineAdded }, 'Open vSwitch anti-spoofing flows updated');
    }
  } finally {
    db.close();
  }
}

export class SteeringSync implements SyncStep<NodeSync, 'ovs-steering'> {
  readonly name = 'ovs-steering';
  private readonly deps: SteeringDeps;
  private readonly socket: string;
  private state: SteeringState = { notYet: true };
  private watch: ReturnType<typeof setInterval> | undefined;
  private podCIDRs: readonly IpCidr[] = [];
  private running: Promise<void> = Promise.resolve();
  /** The connection of the last good sync, kept open: its end is how an ovs-vswitchd restart shows. */
  private held: OpenFlowClient | undefined;
  /** The last failure the watch logged, so a vswitchd that stays down is said once. */
  private watchLogged: string | undefined;
  private offDone = false;
  private stopped = false;
  private readonly redirectsWarned = new Set<string>();

  constructor(deps: SteeringDeps) {
    this.deps = deps;
    this.socket = mgmtSocket(deps.ovsdbSocket, deps.bridge);
  }

  async run(sync: NodeSync): Promise<void> {
    if (this.deps.enabled === false) return this.switchedOff();
    this.stopped = false;
    this.podCIDRs = sync.podCIDRs;
    await this.once();
    if ('error' in this.state) throw new Error(`same-node steering on the Open vSwitch bridge ${this.deps.bridge}: ${this.state.error}`);
  }

  /** Why NetworkPolicy does not see same-node traffic now, or undefined when it does (or there is none). */
  notSteered(): string | undefined {
    if (this.deps.enabled === false) return undefined;
    const s = this.state;
    if ('inPlace' in s || 'noBridge' in s) return undefined;
    if ('notYet' in s) return 'the flows that steer it through the node are not installed yet';
    return `the flows that steer it through the node could not be installed: ${s.error}`;
  }

  /** For /readyz and the log. */
  describe(): string | undefined {
    if (this.deps.enabled === false) return undefined;
    const s = this.state;
    if ('inPlace' in s) return `same-node pod traffic steered through the node (${s.flows} OpenFlow flows on ${this.deps.bridge})`;
    if ('noBridge' in s) return `no Open vSwitch bridge ${this.deps.bridge} yet (no pod): its flows follow it`;
    return this.notSteered()!;
  }

  /** The agent stops (or --once is done): no watch, and the held connection closed. */
  stop(): void {
    this.stopped = true;
    this.stopWatch();
    this.release();
  }

  private stopWatch(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = undefined;
  }

  private release(): void {
    const client = this.held;
    this.held = undefined;
    client?.close();
  }

  /**
   * A Linux-bridge node: an OVS bridge of our name left from --bridge-type ovs (its management
   * socket still there) loses our flows, once; no socket, nothing to do (and no OVS is touched).
   */
  private async switchedOff(): Promise<void> {
    if (this.offDone || !fs.existsSync(this.socket)) return;
    await withOpenFlow(this.socket, removeSteering, this.deps.connect);
    this.offDone = true;
    this.deps.log.info({ bridge: this.deps.bridge }, 'removed the same-node steering flows from the Open vSwitch bridge (--bridge-type is linux)');
  }

  private once(): Promise<void> {
    this.running = this.running.then(() => this.attempt());
    return this.running;
  }

  private async attempt(): Promise<void> {
    const { log, bridge } = this.deps;
    if (!fs.existsSync(this.socket)) {
      this.release();
      this.state = { noBridge: true };
      this.watchUntilSteered();
      return;
    }
    this.disableRedirects();
    let client = this.held;
    if (!client) {
      try {
        client = await (this.deps.connect ?? connectOpenFlow)(this.socket);
      } catch (error) {
        this.state = { error: errorMessage(error) };
        this.watchUntilSteered();
        return;
      }
    }
    try {
      // Guards first: after an ovs-vswitchd restart every guarded port switches unjudged until then.
      // Their failure (the database not answering) does not hold steering back; it fails the step.
      const guards = await syncGuards(client, () => (this.deps.openOvsdb ?? connectOvsdb)(this.deps.ovsdbSocket), bridge, log).then(() => undefined, (error: unknown) => errorMessage(error));
      const outcome = await syncSteering(client, this.podCIDRs);
      if (outcome.added.length || outcome.removed) log.info({ bridge, added: outcome.added, removed: outcome.removed }, 'Open vSwitch same-node steering flows updated');
      this.state = guards === undefined ? { inPlace: true, flows: outcome.flows } : { error: `the anti-spoofing flows: ${guards}` };
      // Guards not in place (the database not answering yet, as after a node's OVS restart): the
      // watch tries again; the connection is good and held all the same.
      if (guards === undefined) this.stopWatch();
      else this.watchUntilSteered();
      this.hold(client);
    } catch (error) {
      this.state = { error: errorMessage(error) };
      if (this.held === client) this.held = undefined;
      client.close();
    }
  }

  /**
   * Keeps the connection open between syncs. OVS keeps no flow across an ovs-vswitchd restart
   * (the bridge's internal interface and its addresses stay): the connection's end is the
   * moment to put them back, as soon as the new vswitchd answers, not at the next resync.
   */
  private hold(client: OpenFlowClient): void {
    if (this.held === client || this.stopped) {
      if (this.stopped) client.close();
      return;
    }
    this.release();
    this.held = client;
    void client.closed.then((why) => {
      if (this.held !== client) return; // closed by us: released, replaced or stopped
      this.held = undefined;
      this.state = { notYet: true };
      this.deps.log.warn({ bridge: this.deps.bridge, why: why.message }, 'lost the OpenFlow connection to the Open vSwitch bridge (ovs-vswitchd stopped or restarted, or the bridge was deleted): the steering flows go back as soon as it answers');
      this.watchUntilSteered();
    });
  }

  /**
   * Until the flows are in place: every WATCH_MS, when the management socket is there (the plugin
   * made the bridge, or ovs-vswitchd bound it again), one more attempt. A failure that repeats is
   * logged once.
   */
  private watchUntilSteered(): void {
    if (this.watch || this.stopped) return;
    let busy = false;
    this.watch = setInterval(() => {
      if (busy || !fs.existsSync(this.socket)) return;
      busy = true;
      void this.once().then(() => {
        busy = false;
        const s = this.state;
        if ('inPlace' in s) this.watchLogged = undefined;
        else if ('error' in s && s.error !== this.watchLogged) {
          this.watchLogged = s.error;
          this.deps.log.error({ bridge: this.deps.bridge }, `same-node steering: ${s.error}`);
        }
      });
    }, WATCH_MS);
    (this.watch as { unref?: () => void }).unref?.();
  }

  /** send_redirects is on when either conf/all or the device's is: both off. */
  private disableRedirects(): void {
    const root = this.deps.procSys ?? '/proc/sys';
    for (const dev of ['all', this.deps.bridge]) {
      const file = path.join(root, 'net/ipv4/conf', dev, 'send_redirects');
      try {
        if (fs.readFileSync(file, 'utf8').trim() === '0') continue;
        fs.writeFileSync(file, '0');
        this.deps.log.info(`disabled net.ipv4.conf.${dev}.send_redirects (steered same-node traffic leaves by the interface it came in on)`);
      } catch (error) {
        // Absent (no IPv4, or the interface not there yet): the next sync tries again. Read-only
        // (an unprivileged DaemonSet): said once; redirects then go out, and change nothing.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && !this.redirectsWarned.has(file)) {
          this.redirectsWarned.add(file);
          this.deps.log.warn({ file }, `cannot disable ICMP redirects: ${errorMessage(error)} (the pods may be told to bypass the node; the flows steer them all the same)`);
        }
      }
    }
  }
}
