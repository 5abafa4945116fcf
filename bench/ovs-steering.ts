// npm run bench:ovs-steering — what issue 21's same-node steering costs on Open vSwitch: TCP
// throughput (iperf3, 1 stream) and ping RTT between two pods of one node, with the agent's
// OpenFlow flows in place (each packet goes to the bridge's LOCAL port and is routed by the node,
// through the forward hook and the policy table) against the same bridge without them (OVS
// switches pod to pod directly, as before the steering; NetworkPolicy then does not hold there).
// One simulated two-node OVS cluster (userspace datapath: this kernel has no openvswitch module),
// the real agent and plugin; the flows deleted (ovs-ofctl, by our cookie) and put back (the
// agent's own sync, triggered by restarting it with --once) in alternating rounds, so background
// load on a shared machine falls on both states alike; medians and their ratio are reported.
// A benchmark, not a test: exits 0 whatever the figures, 1 when anything failed.
// Options: --seconds N (3: per iperf3 run, after 1 s of warm-up), --pings N (200), --rounds N (3).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { SimCluster, eventually, type SimNode } from '../test/support/cluster.ts';
import { ovsMissing } from '../test/support/ovs.ts';
import { DEFAULT_BRIDGE } from '../lib/names.ts';
import { bridgewayFabric } from './net-support/fabrics.ts';
import { pingTimes, throughput, type Endpoint } from './net-support/measure.ts';
import { IP, runSync } from './support/exec.ts';
import { Lab, runInLab } from './support/lab.ts';
import { median, ratio, table } from './support/stats.ts';

const OUR_COOKIE = 'cookie=0x6272777900000000/0xffffffff00000000';
const progress = (line: string) => process.stderr.write(`${line}\n`);

async function run(lab: Lab, options: { seconds: number; pings: number; rounds: number }): Promise<void> {
  const prefix = `${lab.prefix}s`;
  let cluster: SimCluster | undefined;
  lab.onCleanup(() => {
    for (const node of cluster?.nodes ?? []) node.agent?.kill('SIGKILL');
    for (const pid of (cluster?.nodes ?? []).flatMap((node) => node.ovs?.pids() ?? [])) process.kill(pid, 'SIGKILL');
    const names = fs.readdirSync('/run/netns').filter((name) => name.startsWith(`${prefix}-`));
    if (names.length) runSync([IP, '-force', '-batch', '-'], names.map((n) => `netns del ${n}\n`).join(''));
    if (cluster) fs.rmSync(cluster.dir, { recursive: true, force: true });
  });
  cluster = await SimCluster.create(2, prefix, { bridge: 'ovs' });
  const fabric = await bridgewayFabric(cluster);
  const node = cluster.nodes[0] as SimNode;
  const from: Endpoint = fabric.pods[0]!;
  const to: Endpoint = fabric.neighbour!;
  const flows = async () => (await node.ovs!.ourFlows(DEFAULT_BRIDGE)).length;
  await eventually(async () => (await flows()) > 0, 10_000, 'the steering flows');
  const samples = { steered: { bps: [] as number[], rtt: [] as number[] }, switched: { bps: [] as number[], rtt: [] as number[] } };
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? (['steered', 'switched'] as const) : (['switched', 'steered'] as const);
    for (const state of order) {
      if (state === 'switched') await node.ovs!.ofctl(['del-flows', DEFAULT_BRIDGE, OUR_COOKIE]);
      else if ((await flows()) === 0) await cluster.runAgentOnce(node);
      const have = await flows();
      if ((state === 'steered') !== (have > 0)) throw new Error(`round ${round} ${state}: ${have} flows of ours on the bridge`);
      samples[state].bps.push(await throughput(lab, from, to, 1, options.seconds));
      samples[state].rtt.push(median(await pingTimes(from, to, options.pings)));
      progress(`round ${round + 1}/${options.rounds} ${state} done`);
    }
  }
  const m = (s: { bps: number[]; rtt: number[] }) => ({ bps: median(s.bps), rtt: median(s.rtt) });
  const steered = m(samples.steered);
  const switched = m(samples.switched);
  console.log(`same-node pod -> pod on Open vSwitch (userspace datapath), ${options.rounds} rounds, medians`);
  console.log(table([
    ['path', 'TCP 1 stream', 'ping RTT'],
    ['steered through the node (issue 21)', `${(steered.bps / 1e9).toFixed(2)} Gbit/s`, `${steered.rtt.toFixed(3)} ms`],
    ['switched by OVS (no steering flows)', `${(switched.bps / 1e9).toFixed(2)} Gbit/s`, `${switched.rtt.toFixed(3)} ms`],
    ['steered / switched', ratio(steered.bps / switched.bps), ratio(steered.rtt / switched.rtt)],
  ], ['left', 'right', 'right']));
}

async function main(): Promise<void> {
  if (ovsMissing) throw new Error(ovsMissing);
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, pings: { type: 'string', default: '200' }, rounds: { type: 'string', default: '3' } } });
  const lab = new Lab(`bwovss${process.pid}`);
  await runInLab(lab, () => run(lab, { seconds: Number(values.seconds), pings: Number(values.pings), rounds: Number(values.rounds) }), { report: progress });
}

main().catch((error: unknown) => {
  progress(`FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
