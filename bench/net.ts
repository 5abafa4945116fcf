// npm run bench:net — the data plane: TCP throughput (iperf3, 1 and 4 streams) and ping RTT
// between two simulated nodes, for node -> node over eth1 (the limit), pod -> pod through
// bridgeway (the real agent and plugin), the same pod path built by hand with plain routes and no
// iptables, and pod -> pod through a flannel-style VXLAN overlay (bench/net-support/fabrics.ts);
// and bridgeway with its pods on Open vSwitch bridges (--bridge-type ovs) where OVS is installed:
// the userspace datapath (netdev), since this kernel has no openvswitch module, which is not the
// kernel datapath an OVS node with the module would use.
// Ratios are to node -> node. One run of several rounds; in each round every path takes its turn
// at every measurement, and the medians are reported, so that background load on a shared
// machine falls on all of them alike.
// Then issue 17's target, anti-spoofing on >= 0.97x off, also with 250 other attachments'
// elements: on the bridgeway cluster's own paths, the nodes' tables switched between off, on and
// on + 250 a second apart on one running connection, in rotating rounds (per-round ratios, their
// median and spread), and the filter's share of the flow's CPU profiled with perf, which the
// targets are judged on when perf is installed (bench/net-support/antispoofing-ab.ts says why).
// A benchmark, not a test: exits 0 whether targets are met or missed, 1 when anything failed.
// Options: --seconds N (BENCH_NET_SECONDS, 3: per iperf3 run, after 1 s of warm-up),
//          --pings N (BENCH_NET_PINGS, 200: per path and round), --rounds N (BENCH_NET_ROUNDS, 3);
//          the anti-spoofing rounds: --ab-rounds N (BENCH_NET_AB_ROUNDS, 20), --ab-window N
//          (BENCH_NET_AB_WINDOW, 1: seconds per state and round), --ab-pings N (BENCH_NET_AB_PINGS, 50);
//          --only antispoofing: the anti-spoofing rounds alone (one cluster instead of five).
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { AGENT, CLUSTER_CIDR, PLUGIN, SimCluster, type ClusterOptions, type SimNode } from '../test/support/cluster.ts';
import { ovsMissing } from '../test/support/ovs.ts';
import { addConntrackOnly, bridgewayFabric, handBuiltFabric, vxlanFabric, type Fabric } from './net-support/fabrics.ts';
import { IPERF3, pingTimes, throughput, type Endpoint } from './net-support/measure.ts';
import { printAbTargets, reportAb, runAb, type AbOptions, type AbTarget } from './net-support/antispoofing-ab.ts';
import { IP, runSync } from './support/exec.ts';
import { Lab, runInLab } from './support/lab.ts';
import { median, ratio, table } from './support/stats.ts';

interface Options {
  seconds: number;
  pings: number;
  rounds: number;
  ab: AbOptions;
  onlyAntiSpoofing: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      pings: { type: 'string' },
      rounds: { type: 'string' },
      'ab-rounds': { type: 'string' },
      'ab-window': { type: 'string' },
      'ab-pings': { type: 'string' },
      only: { type: 'string' },
    },
  });
  const int = (text: string, name: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${text}`);
    return value;
  };
  return {
    seconds: int(values.seconds ?? process.env.BENCH_NET_SECONDS ?? '3', 'seconds', 1, 60),
    pings: int(values.pings ?? process.env.BENCH_NET_PINGS ?? '200', 'pings', 10, 10_000),
    rounds: int(values.rounds ?? process.env.BENCH_NET_ROUNDS ?? '3', 'rounds', 1, 20),
    ab: {
      rounds: int(values['ab-rounds'] ?? process.env.BENCH_NET_AB_ROUNDS ?? '20', 'ab-rounds', 3, 200),
      window: int(values['ab-window'] ?? process.env.BENCH_NET_AB_WINDOW ?? '1', 'ab-window', 1, 10),
      pings: int(values['ab-pings'] ?? process.env.BENCH_NET_AB_PINGS ?? '50', 'ab-pings', 10, 1_000),
    },
    onlyAntiSpoofing: only(values.only),
  };
}

function only(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === 'antispoofing') return true;
  throw new Error(`--only takes "antispoofing", got ${value}`);
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('the benchmark creates network namespaces: run it as root');
  for (const file of [PLUGIN, AGENT]) if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  if (!fs.existsSync(IPERF3)) throw new Error(`${IPERF3} is missing (apt-get install iperf3; scripts/install-deps.sh)`);
}

function progress(message: string): void {
  process.stderr.write(`bench:net: ${message}\n`);
}

/** A two-node cluster whose namespaces, agents and directory the lab removes, also on a signal. */
async function cluster(lab: Lab, key: string, options: ClusterOptions = {}): Promise<SimCluster> {
  const prefix = `${lab.prefix}${key}`;
  let made: SimCluster | undefined;
  lab.onCleanup(() => {
    for (const node of made?.nodes ?? []) node.agent?.kill('SIGKILL');
    for (const pid of (made?.nodes ?? []).flatMap((node) => node.ovs?.pids() ?? [])) process.kill(pid, 'SIGKILL'); // the node's own ovsdb-server and ovs-vswitchd
    const names = fs.readdirSync('/run/netns').filter((name) => name.startsWith(`${prefix}-`));
    if (names.length) runSync([IP, '-force', '-batch', '-'], names.map((n) => `netns del ${n}\n`).join(''));
    if (made) fs.rmSync(made.dir, { recursive: true, force: true });
  });
  made = await SimCluster.create(2, prefix, options);
  return made;
}

interface Path {
  name: string;
  from: Endpoint;
  to: Endpoint;
}

interface Figures {
  oneStream: number;
  fourStreams: number;
  rttMs: number;
}

const gbits = (bps: number) => (bps / 1e9).toFixed(2);
const OVS_PATH = 'bridgeway on OVS, userspace datapath';
/** Issue 17: the filter's throughput also with this many other attachments' elements present. */
const OTHER_ATTACHMENTS = 250;

async function run(options: Options, lab: Lab): Promise<void> {
  progress(options.onlyAntiSpoofing
    ? 'building a two-node cluster (bridgeway with its agents)'
    : 'building five two-node clusters (bridgeway with its agents; hand-built, vxlan, and both again with conntrack)');
  const bridgeway = await bridgewayFabric(await cluster(lab, 'b'));
  for (const [from, to] of [bridgeway.pods, [bridgeway.pods[0], bridgeway.neighbour!]] as const) {
    if (!(await pingTimes(from, to, 10).then(() => true, () => false))) throw new Error(`bridgeway: ${to.ip} does not answer ${from.ip}`);
  }
  const comparison = options.onlyAntiSpoofing ? undefined : await comparePaths(options, lab, bridgeway);
  const ab = await runAb(lab, bridgeway, OTHER_ATTACHMENTS, options.ab, progress);

  console.log(`bridgeway data-plane benchmark, ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} CPUs, Linux ${os.release()}`);
  console.log(`load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (a shared machine: compare ratios within one run)`);
  const targets = comparison ? report(comparison.paths, comparison.figures, options) : [];
  const abTargets = reportAb(ab, options.ab, OTHER_ATTACHMENTS);
  printTargets(targets, abTargets);
}

/** The main table: every path in turn at each measurement, the medians of the rounds. */
async function comparePaths(options: Options, lab: Lab, bridgeway: Fabric): Promise<{ paths: Path[]; figures: Map<string, Figures> }> {
  const fabrics: Fabric[] = [bridgeway, await handBuiltFabric(await cluster(lab, 'h')), await vxlanFabric(await cluster(lab, 'v'))];
  // The diagnosis: the hand-built and vxlan paths with one nat rule, which makes the kernel track
  // connections as bridgeway's (and flannel's) masquerade rules do.
  for (const [key, make, name] of [['c', handBuiltFabric, 'hand-built + conntrack'], ['x', vxlanFabric, 'vxlan + conntrack']] as const) {
    const tracked = await make(await cluster(lab, key));
    await addConntrackOnly(tracked, CLUSTER_CIDR);
    fabrics.push({ ...tracked, name });
  }
  if (ovsMissing) progress(`no OVS path: ${ovsMissing}`);
  else fabrics.push({ ...(await bridgewayFabric(await cluster(lab, 'o', { bridge: 'ovs' }))), name: OVS_PATH });
  const [nodeA, nodeB] = bridgeway.cluster.nodes as [SimNode, SimNode];
  const paths: Path[] = [
    { name: 'node -> node (eth1)', from: { netns: nodeA.path, ip: nodeA.eth1IP }, to: { netns: nodeB.path, ip: nodeB.eth1IP } },
    ...fabrics.map((f) => ({ name: `pod -> pod, ${f.name}`, from: f.pods[0], to: f.pods[1] })),
  ];
  for (const p of paths) if (!(await pingTimes(p.from, p.to, 10).then(() => true, () => false))) throw new Error(`${p.name}: ${p.to.ip} does not answer`);

  const samples = new Map(paths.map((p) => [p.name, { oneStream: [] as number[], fourStreams: [] as number[], rttMs: [] as number[] }]));
  for (let round = 1; round <= options.rounds; round++) {
    progress(`round ${round} of ${options.rounds}: ${options.pings} pings, then iperf3 with 1 and 4 streams for ${options.seconds} s, on each of ${paths.length} paths`);
    for (const p of paths) samples.get(p.name)!.rttMs.push(median(await pingTimes(p.from, p.to, options.pings)));
    for (const p of paths) samples.get(p.name)!.oneStream.push(await throughput(lab, p.from, p.to, 1, options.seconds));
    for (const p of paths) samples.get(p.name)!.fourStreams.push(await throughput(lab, p.from, p.to, 4, options.seconds));
  }
  const figures = new Map<string, Figures>([...samples].map(([name, s]) => [name, { oneStream: median(s.oneStream), fourStreams: median(s.fourStreams), rttMs: median(s.rttMs) }]));
  return { paths, figures };
}

interface Target {
  name: string;
  value: number;
  met: boolean;
}

function report(paths: Path[], figures: Map<string, Figures>, options: Options): Target[] {
  const base = figures.get(paths[0]!.name)!;
  console.log(`\npaths side by side: medians of ${options.rounds} rounds; iperf3 TCP, ${options.seconds} s per run after 1 s warm-up; ping: p50 of ${options.pings} per round, 10 ms apart\n`);
  const rows = paths.map((p) => {
    const f = figures.get(p.name)!;
    return [p.name, gbits(f.oneStream), ratio(f.oneStream / base.oneStream), gbits(f.fourStreams), ratio(f.fourStreams / base.fourStreams), f.rttMs.toFixed(3), ratio(f.rttMs / base.rttMs)];
  });
  console.log(table([['path', '1 stream Gbit/s', 'x node', '4 streams Gbit/s', 'x node', 'RTT p50 ms', 'x node'], ...rows], ['left']));

  const [bw, hand, vx, vxTracked] = ['bridgeway', 'hand-built', 'vxlan', 'vxlan + conntrack'].map((name) => figures.get(`pod -> pod, ${name}`)!) as [Figures, Figures, Figures, Figures];
  // Not a target: against the overlay as flannel deploys it, masquerade rule (and so conntrack) included.
  console.log(`\nbridgeway against vxlan + conntrack, as flannel deploys it: 1 stream ${ratio(bw.oneStream / vxTracked.oneStream)}, 4 streams ${ratio(bw.fourStreams / vxTracked.fourStreams)}`);
  const ovs = figures.get(`pod -> pod, ${OVS_PATH}`);
  if (ovs) {
    console.log(`bridgeway on Open vSwitch against bridgeway on the Linux bridge: 1 stream ${ratio(ovs.oneStream / bw.oneStream)}, 4 streams ${ratio(ovs.fourStreams / bw.fourStreams)}, RTT ${ratio(ovs.rttMs / bw.rttMs)}`);
    console.log('  (OVS here is the userspace datapath, datapath_type=netdev, with TX checksum offload off in the pods: this kernel has no openvswitch module; a node with it runs the kernel datapath, not measured here)');
  }
  return [
    { name: 'throughput, 1 stream >= 0.97x hand-built', value: bw.oneStream / hand.oneStream, met: bw.oneStream >= 0.97 * hand.oneStream },
    { name: 'throughput, 4 streams >= 0.97x hand-built', value: bw.fourStreams / hand.fourStreams, met: bw.fourStreams >= 0.97 * hand.fourStreams },
    { name: 'RTT p50 <= 1.05x hand-built', value: bw.rttMs / hand.rttMs, met: bw.rttMs <= 1.05 * hand.rttMs },
    { name: 'throughput, 1 stream >= 1.3x vxlan', value: bw.oneStream / vx.oneStream, met: bw.oneStream >= 1.3 * vx.oneStream },
    { name: 'throughput, 4 streams >= 1.3x vxlan', value: bw.fourStreams / vx.fourStreams, met: bw.fourStreams >= 1.3 * vx.fourStreams },
  ];
}

/** Issue 17's anti-spoofing targets are the interleaved rounds' median ratios (antispoofing-ab.ts). */
function printTargets(targets: readonly Target[], abTargets: readonly AbTarget[]): void {
  console.log('\ntargets');
  for (const t of targets) console.log(`  ${t.met ? 'PASS' : 'MISS'}  ${t.name.padEnd(58)} ${ratio(t.value)}`);
  printAbTargets(abTargets);
}

async function main(): Promise<void> {
  const options = parseOptions();
  preflight();
  const lab = new Lab(`bwnet${process.pid}`);
  await runInLab(lab, () => run(options, lab), { report: progress });
}

main().catch((error: unknown) => {
  progress(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
