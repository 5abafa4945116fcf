// npm run bench:policy — issue 19's benchmark, the parts this stage can measure: what the
// compiler and the table cost. (The agent's change-to-enforcement latency, RSS and CPU come when
// the agent runs the compiler.) Three measurements:
//   1. compile: CPU time of compilePolicies at 100 and 5,000 pods with 1,000 policies selecting
//      this node's two pods (bench/policy-support/cluster.ts), of the diff after one pod moves
//      namespace, and the table's size; medians of --repeats;
//   2. load: wall time of one `nft -f` of the whole table, and of that one-change diff, into a
//      fresh namespace (process start included, as the agent would pay it);
//   3. per packet: two pods on a bridge in a node namespace (br_netfilter on, inside it): TCP
//      connect time (every SYN is a new connection, judged in full: egress and ingress) and
//      iperf3 throughput, with no table, the table without policies (conntrack on), 10 policies
//      at 100 pods, 1,000 at 100 and 1,000 at 5,000, taking turns in each of --rounds rounds so
//      background load falls on all; medians of the rounds' medians, and ratios.
// A benchmark, not a test: exits 0 whether targets are met or missed, 1 when something failed.
// Needs root; creates only namespaces (bwbench<pid>-*), all removed on exit and on SIGINT.
// Options: --rounds N (5), --connects N (500, per round and side), --seconds N (3, per iperf3 run),
//          --repeats N (5, compiles per size).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compilePolicies } from '../daemonset/policy/compile.ts';
import { diffTables } from '../daemonset/policy/diff.ts';
import { renderChanges, renderRemove, renderReplace } from '../daemonset/policy/nft-text.ts';
import { POLICY_TABLE } from '../lib/names.ts';
import { execIn } from '../test/support/exec-in.ts';
import { IPERF3, throughput } from './net-support/measure.ts';
import { afterOneChange, benchCluster, CLIENT, CONNECT_PORT, SERVER } from './policy-support/cluster.ts';
import { Lab, runInLab } from './support/lab.ts';
import { median, ms, percentile, ratio, table } from './support/stats.ts';

const CONNECT = path.join(import.meta.dirname, 'policy-support/connect.ts');
const POLICIES = 1000;
const SIZES = [100, 5000];

function options() {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, connects: { type: 'string' }, seconds: { type: 'string' }, repeats: { type: 'string' } } });
  const int = (text: string | undefined, fallback: number, name: string) => {
    const value = Number(text ?? fallback);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
    return value;
  };
  return { rounds: int(values.rounds, 5, 'rounds'), connects: int(values.connects, 500, 'connects'), seconds: int(values.seconds, 3, 'seconds'), repeats: int(values.repeats, 5, 'repeats') };
}

const progress = (line: string) => process.stderr.write(`bench:policy: ${line}\n`);
const cpuMs = (fn: () => void) => {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

async function timedNft(ns: string, text: string): Promise<number> {
  const start = performance.now();
  await execIn(ns, ['nft', '-f', '-'], text);
  return performance.now() - start;
}

async function main(): Promise<number> {
  const opts = options();
  if (process.getuid?.() !== 0) throw new Error('bench:policy creates network namespaces: run it as root');
  if (!fs.existsSync(IPERF3)) throw new Error(`${IPERF3} is missing (apt-get install iperf3)`);
  const lab = new Lab();
  let failed = false;
  await runInLab(lab, async () => {
    // 1 and 2: the compiler, the diff and nft, per size.
    const compileRows: string[][] = [['pods', 'policies', 'elements', 'classes', 'peer sets', 'compile CPU ms', 'diff CPU ms', 'changes', 'nft -f table ms', 'nft -f diff ms', 'table text MB']];
    const texts = new Map<number, string>();
    for (const size of SIZES) {
      const input = benchCluster(size, POLICIES);
      const changed = afterOneChange(input);
      let compiled = compilePolicies(input);
      const compiles: number[] = [];
      const diffs: number[] = [];
      let changes = diffTables(compiled.table, compilePolicies(changed).table);
      for (let i = 0; i < opts.repeats; i++) {
        compiles.push(cpuMs(() => (compiled = compilePolicies(input))));
        const next = compilePolicies(changed);
        diffs.push(cpuMs(() => (changes = diffTables(compiled.table, next.table))));
      }
      const text = renderReplace(compiled.table);
      const diffText = renderChanges(compiled.table, changes);
      const loads: number[] = [];
      const diffLoads: number[] = [];
      for (let i = 0; i < opts.repeats; i++) {
        const ns = lab.netnsPath(await lab.addNamespace(`load${size}-${i}`));
        loads.push(await timedNft(ns, text));
        diffLoads.push(await timedNft(ns, diffText));
        await lab.removeNamespace(path.basename(ns));
      }
      compileRows.push([String(size), String(POLICIES), String(compiled.stats.elements), String(compiled.stats.classes), String(compiled.stats.peerSets), ms(median(compiles)), ms(median(diffs)), String(changes.length), ms(median(loads)), ms(median(diffLoads)), (text.length / 1e6).toFixed(1)]);
      progress(`compiled and loaded ${size} pods x ${POLICIES} policies`);
      texts.set(size, text);
    }

    // 3: per packet, two pods on one bridge.
    const [node, client, server] = (await lab.addNamespaces(['node', 'client', 'server'], { loopbackUp: true })).map((n) => lab.netnsPath(n));
    for (const cmd of [['ip', 'link', 'add', 'br0', 'type', 'bridge'], ['ip', 'link', 'set', 'br0', 'up'], ['ip', 'addr', 'add', '10.90.0.1/24', 'dev', 'br0'],
      ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1']]) await execIn(node!, cmd);
    for (const [ns, ip, port] of [[client!, CLIENT.v4, 'bwc'], [server!, SERVER.v4, 'bws']] as const) {
      await lab.addVeth({ netns: path.basename(node!), name: port, master: 'br0' }, { netns: path.basename(ns), name: 'eth0', address: `${ip}/24` });
    }
    const listener = spawn('nsenter', [`--net=${server}`, '--', process.execPath, CONNECT, 'serve', String(CONNECT_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    lab.track(listener);
    await new Promise<void>((resolve, reject) => { listener.stdout.once('data', () => resolve()); listener.once('exit', (code) => reject(new Error(`connect server exited ${code}`))); });
    const connects = async (port: number, count: number) => JSON.parse((await execIn(client!, [process.execPath, CONNECT, 'connect', SERVER.v4, String(port), String(count)])).stdout) as number[];
    const noPolicy = renderReplace(compilePolicies(benchCluster(0, 0)).table);
    const fewPolicies = renderReplace(compilePolicies(benchCluster(SIZES[0]!, 10)).table);
    const sides = [
      { name: 'no table', table: false, load: () => execIn(node!, ['nft', '-f', '-'], renderRemove({ family: 'inet', name: POLICY_TABLE })) },
      // Conntrack starts in the namespace with the table's `ct state`: what that alone costs.
      { name: 'the table, no policy', table: true, load: () => execIn(node!, ['nft', '-f', '-'], noPolicy) },
      { name: `${SIZES[0]} pods, 10 policies`, table: true, load: () => execIn(node!, ['nft', '-f', '-'], fewPolicies) },
      ...SIZES.map((size) => ({ name: `${size} pods, ${POLICIES} policies`, table: true, load: () => execIn(node!, ['nft', '-f', '-'], texts.get(size)!) })),
    ];
    const results = sides.map(() => ({ p50: [] as number[], p99: [] as number[], bps: [] as number[] }));
    for (let round = 0; round < opts.rounds; round++) {
      for (const [i, side] of sides.entries()) {
        await side.load();
        // The table is in force: a port no policy allows times out (no table: refused at once).
        const denied = await connects(7001, 1).then(() => 'connected', (e: Error) => e.message);
        if (side.name.includes('policies') && !/timed out/.test(denied)) throw new Error(`with the table, a connection to an unallowed port was not dropped: ${denied}`);
        await connects(CONNECT_PORT, 50); // warm-up
        const times = await connects(CONNECT_PORT, opts.connects);
        results[i]!.p50.push(median(times));
        results[i]!.p99.push(percentile(times, 99));
        results[i]!.bps.push(await throughput(lab, { netns: client!, ip: CLIENT.v4 }, { netns: server!, ip: SERVER.v4 }, 1, opts.seconds));
      }
      progress(`round ${round + 1} of ${opts.rounds}`);
    }
    // Two baselines: no table at all, and the table without policies, whose `ct state` turns
    // conntrack on (as kube-proxy already has on every real node).
    const base = results[0]!;
    const tracked = results[1]!;
    const packetRows = [['', 'connect p50 µs', 'connect p99 µs', 'TCP Gbit/s', 'p50 vs none', 'p50 vs no policy', 'Gbit/s vs none'],
      ...sides.map((side, i) => {
        const r = results[i]!;
        return [side.name, ms(median(r.p50)), ms(median(r.p99)), (median(r.bps) / 1e9).toFixed(2), ratio(median(r.p50) / median(base.p50)), ratio(median(r.p50) / median(tracked.p50)), ratio(median(r.bps) / median(base.bps))];
      })];
    const r = results.at(-1)!;
    const bpsRatio = median(r.bps) / median(base.bps);
    const p50Ratio = median(r.p50) / median(base.p50);
    const perPolicy = median(r.p50) / median(results[2]!.p50);
    process.stdout.write([
      `bench:policy (${new Date().toISOString()}, load ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')})`,
      '', 'The compiler and nft, per cluster size (CPU ms: medians of ' + opts.repeats + '):', table(compileRows),
      '', `Per packet, two pods on one bridge, medians of ${opts.rounds} rounds (${opts.connects} connects, ${opts.seconds} s iperf3 each):`, table(packetRows, ['left']),
      '', `${bpsRatio >= 0.97 ? 'PASS' : 'MISS'} throughput with the table >= 0.97x of none: ${ratio(bpsRatio)}`,
      `${p50Ratio <= 1.05 ? 'PASS' : 'MISS'} connect time (every SYN judged) <= 1.05x of none: ${ratio(p50Ratio)}`,
      `(not a target: connect time at ${SIZES.at(-1)} pods and ${POLICIES} policies over ${SIZES[0]} pods and 10 policies: ${ratio(perPolicy)}; a cost that grew with pods or policies would show here)`, '',
    ].join('\n'));
  }, { report: (line) => { failed = true; progress(line); } });
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (error: Error) => {
  process.stderr.write(`bench:policy failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
