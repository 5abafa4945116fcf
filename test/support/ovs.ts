// Open vSwitch of a test's own: an ovsdb-server with its own database file (made from Debian's
// vswitch.ovsschema) and unix socket, and an ovs-vswitchd pointed at that socket and run inside
// the test's node namespace, both with the lab's directory as their run, log and database
// directory (OVS_RUNDIR: vswitchd binds each bridge's <bridge>.mgmt socket there, in
// /var/run/openvswitch otherwise, where a system OVS lives). Stopped by PID (SIGTERM, then the
// lab's SIGKILL), so a system OVS, if the machine has one, is never touched.
// This machine's kernel has no openvswitch module: bridges must use `datapath_type=netdev`
// (the userspace datapath), which ovs-vswitchd runs itself.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import type { Lab } from './lab.ts';
import { run } from './lab.ts';
import { poll } from './poll.ts';

export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Why OVS tests cannot run here (the binaries or the schema are missing), or false. */
export const ovsMissing: string | false = ['/usr/sbin/ovsdb-server', '/usr/sbin/ovs-vswitchd', '/usr/bin/ovsdb-tool', OVS_SCHEMA].every((file) => fs.existsSync(file))
  ? false
  : 'Open vSwitch is not installed (scripts/install-deps.sh installs openvswitch-switch)';

export class TestOvs {
  /** The run directory: database, sockets, pid and log files. */
  readonly dir: string;
  readonly socket: string;
  private readonly children: ChildProcess[] = [];
  private readonly env: Record<string, string>;

  private readonly lab: Lab;
  private readonly netnsName: string;

  private constructor(lab: Lab, netnsName: string, dir: string) {
    this.lab = lab;
    this.netnsName = netnsName;
    this.dir = dir;
    this.socket = path.join(this.dir, 'db.sock');
    this.env = { PATH: SYSTEM_PATH, OVS_RUNDIR: this.dir, OVS_LOGDIR: this.dir, OVS_DBDIR: this.dir };
  }

  /**
   * Starts ovsdb-server, initialises the database, then ovs-vswitchd in the namespace `netnsName`.
   * `dir`: the run directory (the lab's ovs/ by default; one per node in the simulated cluster).
   */
  static async start(lab: Lab, netnsName: string, options: { vswitchd?: boolean; dir?: string } = {}): Promise<TestOvs> {
    const ovs = new TestOvs(lab, netnsName, options.dir ?? path.join(lab.dir, 'ovs'));
    fs.mkdirSync(ovs.dir, { recursive: true });
    await run(['ovsdb-tool', 'create', path.join(ovs.dir, 'conf.db'), OVS_SCHEMA]);
    await ovs.startDb();
    await ovs.vsctl(['--no-wait', 'init']);
    if (options.vswitchd !== false) await ovs.startVswitchd();
    return ovs;
  }

  private spawnTracked(argv: string[], what: string): ChildProcess {
    const child = spawn(argv[0]!, argv.slice(1), { env: this.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal === null) console.error(`${what} exited with ${code}: ${stderr}`);
    });
    this.lab.track(child);
    this.children.push(child);
    return child;
  }

  async startDb(): Promise<void> {
    fs.rmSync(this.socket, { force: true });
    const child = this.spawnTracked(
      ['ovsdb-server', path.join(this.dir, 'conf.db'), `--remote=punix:${this.socket}`, `--unixctl=${path.join(this.dir, 'ovsdb-server.ctl')}`,
        `--log-file=${path.join(this.dir, 'ovsdb-server.log')}`, '--verbose=off'],
      'ovsdb-server',
    );
    await poll(() => child.exitCode === null ? fs.existsSync(this.socket) : Promise.reject(new Error(`ovsdb-server exited (${child.exitCode})`)), { what: `ovsdb-server's socket ${this.socket}` });
  }

  async startVswitchd(): Promise<void> {
    const ctl = path.join(this.dir, 'ovs-vswitchd.ctl');
    fs.rmSync(ctl, { force: true }); // a killed one's: its existence is the new one's sign of life
    const child = this.spawnTracked(
      ['ip', 'netns', 'exec', this.netnsName, 'ovs-vswitchd', `unix:${this.socket}`, `--unixctl=${ctl}`, `--log-file=${path.join(this.dir, 'ovs-vswitchd.log')}`, '--verbose=off'],
      'ovs-vswitchd',
    );
    await poll(() => child.exitCode === null ? fs.existsSync(ctl) : Promise.reject(new Error(`ovs-vswitchd exited (${child.exitCode})`)), { what: 'ovs-vswitchd\'s control socket' });
  }

  /** ovs-vsctl on this database (a test's own reads and the "VM" port; the plugin never spawns it). */
  async vsctl(args: string[]): Promise<string> {
    return (await run(['ovs-vsctl', `--db=unix:${this.socket}`, '--timeout=10', ...args], { env: this.env })).stdout.trim();
  }

  /** ovs-ofctl on a bridge of this vswitchd (its <bridge>.mgmt socket in the run directory): a test's read of the flows. */
  async ofctl(args: string[]): Promise<string> {
    return (await run(['ovs-ofctl', '-O', 'OpenFlow13', '--timeout=10', ...args], { env: this.env })).stdout.trim();
  }

  /** The bridge's flows whose cookie has bridgeway's prefix (0x62727779/32, daemonset/ovs/steering.ts), as dump-flows prints them. */
  async ourFlows(bridge: string): Promise<string[]> {
    return (await this.ofctl(['dump-flows', bridge, 'cookie=0x6272777900000000/0xffffffff00000000'])).split('\n').filter((l) => l.includes('cookie='));
  }

  /** `ovs-vsctl --format=json find|list ...` rows as objects of column -> OVSDB JSON value. */
  async rows(args: string[]): Promise<Record<string, unknown>[]> {
    const out = JSON.parse(await this.vsctl(['--format=json', ...args])) as { headings: string[]; data: unknown[][] };
    return out.data.map((row) => Object.fromEntries(out.headings.map((h, i) => [h, row[i]])));
  }

  /** Stops ovsdb-server only (the "dead database" case); the lab or stop() still stops the rest. */
  async stopDb(): Promise<void> {
    await this.stopChild(this.children[0]!);
  }

  /**
   * Stops ovs-vswitchd only (the "vswitchd not running" case, or a restart with startVswitchd);
   * the database keeps answering. `kill`: SIGKILL, as a crash (its sockets' files stay behind).
   */
  async stopVswitchd(options: { kill?: boolean } = {}): Promise<void> {
    const vswitchd = this.children.filter((child) => child !== this.children[0]).find((child) => child.exitCode === null && child.signalCode === null);
    if (!vswitchd) return;
    if (options.kill) {
      const gone = new Promise((resolve) => vswitchd.once('exit', resolve));
      vswitchd.kill('SIGKILL');
      await gone;
      return;
    }
    await this.stopChild(vswitchd);
  }

  /** Freezes ovs-vswitchd (SIGSTOP): the database answers, nothing it holds is applied. */
  pauseVswitchd(): void {
    this.children.at(-1)!.kill('SIGSTOP');
  }

  resumeVswitchd(): void {
    this.children.at(-1)!.kill('SIGCONT');
  }

  /** ovsdb-server's and ovs-vswitchd's process IDs (bench:cni reads their CPU time in /proc). */
  pids(): number[] {
    return this.children.flatMap((child) => (child.pid !== undefined && child.exitCode === null ? [child.pid] : []));
  }

  /** SIGTERM to each, by PID, and waits for it to go. */
  async stop(): Promise<void> {
    for (const child of [...this.children].reverse()) await this.stopChild(child);
  }

  private async stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT'); // a paused one would not act on the SIGTERM
    child.kill('SIGTERM');
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** An OVSDB set or map value as ovs-vsctl's JSON prints it, as plain JS. */
export function ovsValue(value: unknown): unknown {
  if (Array.isArray(value) && value[0] === 'set') return (value[1] as unknown[]).map(ovsValue);
  if (Array.isArray(value) && value[0] === 'map') return Object.fromEntries((value[1] as [unknown, unknown][]).map(([k, v]) => [k, ovsValue(v)]));
  if (Array.isArray(value) && value[0] === 'uuid') return value[1];
  return value;
}
