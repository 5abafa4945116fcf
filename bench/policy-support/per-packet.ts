// bench:policy's per-packet part, by issue 17's method (bench/net-support/antispoofing-ab.ts says
// why: separate iperf3 runs on this shared 2-CPU VM moved by as much as the effects). Three states
// of the node's policy table take turns a second apart, in an order rotated every round:
//   none      no table: no hook, and no conntrack in the node namespace;
//   empty     the table with no policy selecting the pods (its `ct state` turns conntrack on, as
//             kube-proxy has it on every real node);
//   policies  1,000 policies over 5,000 pods, all selecting both pods, the flow allowed.
// Each switch is one `nft -f` of the whole table (or its removal) into the node namespace. Three
// measures, each with its own rounds: RTT p50 of one-byte TCP echoes (ICMP is denied where
// policies select the pods); TCP connect time (every SYN a new connection,
// judged in full); and ONE running iperf3 TCP connection, counted per second and per CPU-second of
// both iperf3 processes, then profiled with perf per state: the share of the flow's CPU in the
// table's chains (nft_do_chain_inet: the only inet table in the namespace) and in conntrack
// (nf_conntrack_in). At equal CPU, throughput in a state is (1 - its shares) of throughput
// without them; the targets are judged on that when perf is installed.
import fs from 'node:fs';
import os from 'node:os';
import { interleave, PERF, profileShares, PROFILE_SECONDS, rotation, roundRatios, SETTLE_MS, streamWindow, withStream, type Switch } from '../net-support/antispoofing-ab.ts';
import type { Endpoint } from '../net-support/measure.ts';
import type { Lab } from '../support/lab.ts';
import { median, percentile, ratio, ratioSpread, spread, table } from '../support/stats.ts';
import { execIn } from '../../test/support/exec-in.ts';

export type PolicyState = 'none' | 'empty' | 'policies';
export const POLICY_STATES: readonly PolicyState[] = ['none', 'empty', 'policies'];
export const LABEL: Record<PolicyState, string> = { none: '(a) no table', empty: '(b) the table, no policy', policies: '(c) 1,000 policies, 5,000 pods' };

/** Loads each state's text into the node namespace; `texts.none` removes the table. */
export class PolicyTableSwitch implements Switch<PolicyState> {
  private current: PolicyState | undefined;
  private readonly node: string;
  private readonly texts: Record<PolicyState, string>;
  constructor(node: string, texts: Record<PolicyState, string>) {
    this.node = node;
    this.texts = texts;
  }
  async set(next: PolicyState): Promise<void> {
    if (next === this.current) return;
    await execIn(this.node, ['nft', '-f', '-'], this.texts[next]);
    this.current = next;
  }
}

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
/** Per state: the share of the flow's CPU in the table's chains and in conntrack. */
export type Shares = Record<PolicyState, { chains: number; conntrack: number }>;

/** Per state: the share of the echo flow's CPU in the table's chains, in conntrack and in all netfilter hooks. */
export type RttShares = Record<PolicyState, { chains: number; conntrack: number; hooks: number }>;

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
export async function runPerPacket(lab: Lab, filter: PolicyTableSwitch, client: Endpoint, server: Endpoint, probe: Probe, options: PerPacketOptions, progress: (line: string) => void): Promise<PerPacketResults> {
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
      const [chains, conntrack, hooks] = await profileShares(lab, probe.rttPids, `rtt ${state}`, ['nft_do_chain_inet', 'nf_conntrack_in', 'nf_hook_slow']);
      profiling = false;
      await echoes;
      rttProfile[state] = { chains: chains!, conntrack: conntrack!, hooks: hooks! };
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
  const seconds = Math.ceil(options.rounds * POLICY_STATES.length * (options.window + SETTLE_MS / 1000 + 2)) + 4 * PROFILE_SECONDS + 60;
  const shares = await withStream(lab, client, server, 1, seconds, async (counters) => {
    keep(await interleave(filter, POLICY_STATES, options.rounds, METRICS.stream, () => streamWindow(counters, options.window)));
    if (!profile) return undefined;
    const result = {} as Shares;
    for (const state of rotation(POLICY_STATES, 0)) {
      await filter.set(state);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const [chains, conntrack] = await profileShares(lab, counters.pids, `policy ${state}`, ['nft_do_chain_inet', 'nf_conntrack_in']);
      result[state] = { chains: chains!, conntrack: conntrack! };
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

/** The report's lines and the targets: throughput (c) >= 0.97x (a) at equal CPU, RTT p50 (c) <= 1.05x (a). */
export function reportPerPacket({ samples, profile, rttLoad, rttProfile }: PerPacketResults, options: PerPacketOptions): { lines: string[]; targets: PolicyTarget[] } {
  const lines: string[] = [];
  lines.push(`Per packet, two pods on one bridge: ${options.rttRounds} rounds for the RTT, ${options.rounds} for the rest; in each, the three states of the node's table a second apart, the order rotated every round`);
  lines.push(`(TCP RTT: p50 of ${options.echoes} one-byte echoes back to back on one connection kept open for all rounds, by one client process, as ping's ICMP is denied where policies select the pods; connect: ${options.connects} sequential connects; TCP: ${options.window} s windows of one iperf3 connection, per second and per CPU-second of both iperf3 processes)`);
  const load = spread(rttLoad);
  lines.push(`1-min load average during the RTT rounds: median ${load.median.toFixed(2)}, range ${load.min.toFixed(2)}-${load.max.toFixed(2)}`);
  lines.push(table([['medians over the rounds', ...POLICY_STATES.map((s) => LABEL[s])],
    ...[...samples].map(([name, byState]) => [name, ...POLICY_STATES.map((s) => median(byState.get(s)!).toFixed(2))])], ['left']));
  const rows: string[][] = [];
  const ratios = new Map<string, ReturnType<typeof spread>>();
  for (const [name, byState] of samples) {
    // (c) against (a) is the target's; (c) against (b) is what the policies add on a node whose
    // conntrack is on anyway (kube-proxy); (b) against (a) is conntrack and the hook alone.
    for (const [state, against] of [['empty', 'none'], ['policies', 'none'], ['policies', 'empty']] as const) {
      const perRound = roundRatios(byState.get(state)!, byState.get(against)!);
      ratios.set(`${name}|${state}|${against}`, spread(perRound));
      rows.push([`${name}, ${LABEL[state].slice(0, 3)} / ${LABEL[against].slice(0, 3)}`, perRound.map((r) => r.toFixed(2)).join(' '), ratioSpread(spread(perRound))]);
    }
  }
  lines.push('', table([['ratio', 'round by round', 'median (spread)'], ...rows], ['left', 'left', 'left']));
  if (profile) {
    const kept = (s: PolicyState) => (1 - profile[s].chains - profile[s].conntrack) / (1 - profile.none.chains - profile.none.conntrack);
    lines.push('', `The flow's CPU (perf record -p <both iperf3>, cpu-clock, ${PROFILE_SECONDS} s per state): share in the table's chains (nft_do_chain_inet) and in conntrack (nf_conntrack_in); throughput kept at equal CPU = (1 - both) relative to (a)`);
    lines.push(table([['state', 'chains', 'conntrack', 'kept vs (a)', 'kept vs (b)'],
      ...POLICY_STATES.map((s) => [LABEL[s], pct(profile[s].chains), pct(profile[s].conntrack), x3(kept(s)), x3(kept(s) / kept('empty'))])], ['left']));
  }
  if (rttProfile) {
    lines.push('', `The echoes' CPU (perf record -p <echo client and server>, cpu-clock, ${PROFILE_SECONDS} s per state, echoes back to back): share in the table's chains (nft_do_chain_inet), in conntrack (nf_conntrack_in) and in every netfilter hook (nf_hook_slow: the chains, conntrack and br_netfilter's own)`);
    lines.push(table([['state', 'chains', 'conntrack', 'all hooks'],
      ...POLICY_STATES.map((s) => [LABEL[s], pct(rttProfile[s].chains), pct(rttProfile[s].conntrack), pct(rttProfile[s].hooks)])], ['left']));
  }
  const perCpu = ratios.get('TCP per CPU-s (Gbit)|policies|none')!;
  const rtt = ratios.get('TCP RTT p50 (µs)|policies|none')!;
  const rttOverEmpty = ratios.get('TCP RTT p50 (µs)|policies|empty')!;
  const iqr = (s: ReturnType<typeof spread>) => `${ratio(s.median)} (IQR ${s.q1.toFixed(2)}-${s.q3.toFixed(2)})`;
  const targets: PolicyTarget[] = [];
  if (profile) {
    const keptC = (1 - profile.policies.chains - profile.policies.conntrack) / (1 - profile.none.chains - profile.none.conntrack);
    targets.push({ name: 'throughput, 1,000 policies >= 0.97x no table, at equal CPU', met: keptC >= 0.97, judged: `profile ${x3(keptC)}; interleaved per CPU-s ${iqr(perCpu)}` });
  } else {
    targets.push({ name: 'throughput, 1,000 policies >= 0.97x no table, per CPU-s', met: perCpu.median >= 0.97, judged: `interleaved ${iqr(perCpu)}` });
  }
  targets.push({ name: 'RTT p50 (TCP echo), 1,000 policies <= 1.05x no table', met: rtt.median <= 1.05, judged: `interleaved ${iqr(rtt)}; vs the table without policy ${iqr(rttOverEmpty)}` });
  return { lines, targets };
}
