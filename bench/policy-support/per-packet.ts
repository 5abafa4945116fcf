// bench:policy's per-packet part, by issue 17's method (bench/net-support/antispoofing-ab.ts says
// why: separate iperf3 runs on this shared 2-CPU VM moved by as much as the effects). Four states
// of the node namespace take turns a second apart, in an order rotated every round
// (bench/policy-support/node-switch.ts builds them):
//   none      (a)  bare floor: no agent chains, no table, no conntrack in the node namespace;
//   agent     (a') the agent's own iptables chains (its nat masquerade chain turns conntrack on,
//                  as on every real node), no policy table: the same path with no policy;
//   empty     (b') the agent's chains and the policy table with no policy selecting the pods;
//   policies  (c') the agent's chains and 1,000 policies over 5,000 pods, all selecting both
//                  pods, the flow allowed.
// Three measures, each with its own rounds: RTT p50 of one-byte TCP echoes (ICMP is denied where
// policies select the pods); TCP connect time (every SYN a new connection,
// judged in full); and ONE running iperf3 TCP connection, counted per second and per CPU-second of
// both iperf3 processes, then profiled with perf per state: the share of the flow's CPU in the
// policy table's chains (nft_do_chain_inet: the only inet table in the namespace), in the agent's
// chains (nft_do_chain_ipv4: iptables-nft's ip tables) and in conntrack (nf_conntrack_in). At
// equal CPU, throughput in a state is (1 - its shares) of throughput without them; the targets
// are judged on that when perf is installed, against (a').
import fs from 'node:fs';
import os from 'node:os';
import { interleave, PERF, profileShares, PROFILE_SECONDS, rotation, roundRatios, SETTLE_MS, streamWindow, withStream } from '../net-support/antispoofing-ab.ts';
import type { Endpoint } from '../net-support/measure.ts';
import type { Lab } from '../support/lab.ts';
import { median, percentile, ratio, ratioSpread, spread, table } from '../support/stats.ts';
import type { NodeSwitch, PolicyState } from './node-switch.ts';

export type { PolicyState } from './node-switch.ts';
export const POLICY_STATES: readonly PolicyState[] = ['none', 'agent', 'empty', 'policies'];
export const LABEL: Record<PolicyState, string> = { none: "(a) bare: no agent chains, no table", agent: "(a') agent's chains, no table", empty: "(b') + the table, no policy", policies: "(c') + 1,000 policies, 5,000 pods" };
const SHORT: Record<PolicyState, string> = { none: '(a)', agent: "(a')", empty: "(b')", policies: "(c')" };

/** The client's TCP probes (connect.ts), times in µs: n sequential connects; n echoed bytes on one connection. */
export interface Probe {
  connects: (n: number) => Promise<number[]>;
  roundTrips: (n: number) => Promise<number[]>;
  /** The echo client's and server's pids: the RTT's CPU is profiled in them. */
  rttPids: readonly number[];
}

export interface PerPacketOptions {
  rounds: number;
  /** Rounds of the RTT series alone: it is the figure with the tightest target (<= 1.05x). */
  rttRounds: number;
  /** Seconds of stream counted per state and round. */
  window: number;
  /** One-byte TCP echoes per state and round. */
  echoes: number;
  connects: number;
}

type Samples = Map<string, Map<PolicyState, number[]>>;
/** Per state: the share of the flow's CPU in the policy table's chains, in the agent's chains and in conntrack. */
export type Shares = Record<PolicyState, { chains: number; agent: number; conntrack: number }>;

/** Per state: the share of the echo flow's CPU in the policy table's chains, the agent's, conntrack and all netfilter hooks. */
export type RttShares = Record<PolicyState, { chains: number; agent: number; conntrack: number; hooks: number }>;

export interface PerPacketResults {
  samples: Samples;
  profile?: Shares;
  rttProfile?: RttShares;
  /** The 1-min load average at each RTT window: other sessions share the 2 CPUs. */
  rttLoad: number[];
}

const METRICS = {
  rtt: [{ name: 'TCP RTT p50 (µs)' }],
  connect: [{ name: 'connect p50 (µs)' }, { name: 'connect p99 (µs)' }],
  stream: [{ name: 'TCP per CPU-s (Gbit)' }, { name: 'TCP (Gbit/s)' }],
};

/**
 * The three measures in turn, each with its own rounds.
 */
export async function runPerPacket(lab: Lab, filter: NodeSwitch, client: Endpoint, server: Endpoint, probe: Probe, options: PerPacketOptions, progress: (line: string) => void): Promise<PerPacketResults> {
  const samples: Samples = new Map();
  const keep = (s: Samples) => { for (const [k, v] of s) samples.set(k, v); };
  const rttLoad: number[] = [];
  progress(`per packet: ${options.rttRounds} rounds of ${POLICY_STATES.length} series of ${options.echoes} TCP round trips on one connection`);
  await probe.roundTrips(options.echoes); // the client's JIT and the connection warm before the first window
  keep(await interleave(filter, POLICY_STATES, options.rttRounds, METRICS.rtt, async () => {
    rttLoad.push(os.loadavg()[0]!);
    return [median(await probe.roundTrips(options.echoes))];
  }));
  const profile = fs.existsSync(PERF);
  let rttProfile: RttShares | undefined;
  if (profile) {
    // Where an echo's time goes in each state: perf on both ends while echoes run back to back.
    progress(`per packet: perf of the echoes, ${PROFILE_SECONDS} s per state`);
    rttProfile = {} as RttShares;
    for (const state of POLICY_STATES) {
      await filter.set(state);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      let profiling = true;
      const echoes = (async () => { while (profiling) await probe.roundTrips(5000); })();
      const [chains, agent, conntrack, hooks] = await profileShares(lab, probe.rttPids, `rtt ${state}`, ['nft_do_chain_inet', 'nft_do_chain_ipv4', 'nf_conntrack_in', 'nf_hook_slow']);
      profiling = false;
      await echoes;
      rttProfile[state] = { chains: chains!, agent: agent!, conntrack: conntrack!, hooks: hooks! };
    }
  }
  progress(`per packet: ${options.rounds} rounds of ${POLICY_STATES.length} series of ${options.connects} connects`);
  keep(await interleave(filter, POLICY_STATES, options.rounds, METRICS.connect, async () => {
    await probe.connects(20); // the probe's own warm-up
    const times = await probe.connects(options.connects);
    return [median(times), percentile(times, 99)];
  }));
  if (!profile) progress(`${PERF} is missing: the table's share of the flow's CPU is not profiled (apt-get install linux-perf)`);
  progress(`per packet: ${options.rounds} rounds of ${POLICY_STATES.length} windows of ${options.window} s on one TCP connection${profile ? ', then perf per state' : ''}`);
  // Each switch to `policies` loads ~200,000 elements (~0.7 s): room for them all.
  const seconds = Math.ceil(options.rounds * POLICY_STATES.length * (options.window + SETTLE_MS / 1000 + 2)) + (POLICY_STATES.length + 1) * PROFILE_SECONDS + 60;
  const shares = await withStream(lab, client, server, 1, seconds, async (counters) => {
    keep(await interleave(filter, POLICY_STATES, options.rounds, METRICS.stream, () => streamWindow(counters, options.window)));
    if (!profile) return undefined;
    const result = {} as Shares;
    for (const state of rotation(POLICY_STATES, 0)) {
      await filter.set(state);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const [chains, agent, conntrack] = await profileShares(lab, counters.pids, `policy ${state}`, ['nft_do_chain_inet', 'nft_do_chain_ipv4', 'nf_conntrack_in']);
      result[state] = { chains: chains!, agent: agent!, conntrack: conntrack! };
    }
    return result;
  });
  return { samples, profile: shares, rttLoad, ...(rttProfile ? { rttProfile } : {}) };
}

export interface PolicyTarget {
  name: string;
  met: boolean;
  judged: string;
}

const x3 = (v: number) => `${v.toFixed(3)}x`;
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** The report's lines and the targets: throughput (c') >= 0.97x (a') at equal CPU, RTT p50 (c') <= 1.05x (a'): issue 19's "the same path with no policy" is (a'), a node with the agent's chains. */
export function reportPerPacket({ samples, profile, rttLoad, rttProfile }: PerPacketResults, options: PerPacketOptions): { lines: string[]; targets: PolicyTarget[] } {
  const lines: string[] = [];
  lines.push(`Per packet, two pods on one bridge: ${options.rttRounds} rounds for the RTT, ${options.rounds} for the rest; in each, the four states of the node namespace a second apart, the order rotated every round`);
  lines.push(`(TCP RTT: p50 of ${options.echoes} one-byte echoes back to back on one connection kept open for all rounds, by one client process, as ping's ICMP is denied where policies select the pods; connect: ${options.connects} sequential connects; TCP: ${options.window} s windows of one iperf3 connection, per second and per CPU-second of both iperf3 processes)`);
  const load = spread(rttLoad);
  lines.push(`1-min load average during the RTT rounds: median ${load.median.toFixed(2)}, range ${load.min.toFixed(2)}-${load.max.toFixed(2)}`);
  lines.push(table([['medians over the rounds', ...POLICY_STATES.map((s) => LABEL[s])],
    ...[...samples].map(([name, byState]) => [name, ...POLICY_STATES.map((s) => median(byState.get(s)!).toFixed(2))])], ['left']));
  const rows: string[][] = [];
  const ratios = new Map<string, ReturnType<typeof spread>>();
  for (const [name, byState] of samples) {
    // (c')/(a') is the target's: the policies and their table on a node as it is without them;
    // (c')/(a) against the bare floor; (b')/(a') the table's hook alone; (c')/(b') the policies
    // alone; (a')/(a) what the agent's chains and their conntrack cost before any policy.
    for (const [state, against] of [['policies', 'agent'], ['policies', 'none'], ['empty', 'agent'], ['policies', 'empty'], ['agent', 'none']] as const) {
      const perRound = roundRatios(byState.get(state)!, byState.get(against)!);
      ratios.set(`${name}|${state}|${against}`, spread(perRound));
      rows.push([`${name}, ${SHORT[state]} / ${SHORT[against]}`, perRound.map((r) => r.toFixed(2)).join(' '), ratioSpread(spread(perRound))]);
    }
  }
  lines.push('', table([['ratio', 'round by round', 'median (spread)'], ...rows], ['left', 'left', 'left']));
  if (profile) {
    const kept = (s: PolicyState) => 1 - profile[s].chains - profile[s].agent - profile[s].conntrack;
    lines.push('', `The flow's CPU (perf record -p <both iperf3>, cpu-clock, ${PROFILE_SECONDS} s per state): share in the policy table's chains (nft_do_chain_inet), the agent's chains (nft_do_chain_ipv4) and conntrack (nf_conntrack_in); throughput kept at equal CPU = (1 - all three) relative to (a) and to (a')`);
    lines.push(table([['state', 'policy chains', "agent's chains", 'conntrack', 'kept vs (a)', "kept vs (a')"],
      ...POLICY_STATES.map((s) => [LABEL[s], pct(profile[s].chains), pct(profile[s].agent), pct(profile[s].conntrack), x3(kept(s) / kept('none')), x3(kept(s) / kept('agent'))])], ['left']));
  }
  if (rttProfile) {
    lines.push('', `The echoes' CPU (perf record -p <echo client and server>, cpu-clock, ${PROFILE_SECONDS} s per state, echoes back to back): share in the policy table's chains (nft_do_chain_inet), the agent's chains (nft_do_chain_ipv4), conntrack (nf_conntrack_in) and every netfilter hook (nf_hook_slow: the chains, conntrack, nat and br_netfilter's own)`);
    lines.push(table([['state', 'policy chains', "agent's chains", 'conntrack', 'all hooks'],
      ...POLICY_STATES.map((s) => [LABEL[s], pct(rttProfile[s].chains), pct(rttProfile[s].agent), pct(rttProfile[s].conntrack), pct(rttProfile[s].hooks)])], ['left']));
  }
  const perCpu = ratios.get('TCP per CPU-s (Gbit)|policies|agent')!;
  const rtt = ratios.get('TCP RTT p50 (µs)|policies|agent')!;
  const rttBare = ratios.get('TCP RTT p50 (µs)|policies|none')!;
  const iqr = (s: ReturnType<typeof spread>) => `${ratio(s.median)} (IQR ${s.q1.toFixed(2)}-${s.q3.toFixed(2)})`;
  const targets: PolicyTarget[] = [];
  if (profile) {
    const keptC = (1 - profile.policies.chains - profile.policies.agent - profile.policies.conntrack) / (1 - profile.agent.chains - profile.agent.agent - profile.agent.conntrack);
    targets.push({ name: "throughput, 1,000 policies >= 0.97x no policy (a'), at equal CPU", met: keptC >= 0.97, judged: `profile ${x3(keptC)}; interleaved per CPU-s ${iqr(perCpu)}` });
  } else {
    targets.push({ name: "throughput, 1,000 policies >= 0.97x no policy (a'), per CPU-s", met: perCpu.median >= 0.97, judged: `interleaved ${iqr(perCpu)}` });
  }
  targets.push({ name: "RTT p50 (TCP echo), 1,000 policies <= 1.05x no policy (a')", met: rtt.median <= 1.05, judged: `interleaved ${iqr(rtt)}; vs the bare floor (a) ${iqr(rttBare)}` });
  return { lines, targets };
}
