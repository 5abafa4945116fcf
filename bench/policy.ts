// npm run bench:policy — issue 19's benchmark, the parts this stage can measure: what the
// compiler and the table cost. (The agent's change-to-enforcement latency, RSS and CPU come when
// the agent runs the compiler.) Three measurements:
//   1. compile: CPU time of compilePolicies at 100 and 5,000 pods with 1,000 policies selecting
//      this node's two pods (bench/policy-support/cluster.ts), of the diff after one pod moves
//      namespace, and the table's size; medians of --repeats;
//   2. load: wall time of one `nft -f` of the whole table, and of that one-change diff, into a
//      fresh namespace (process start included, as the agent would pay it);
//   3. per packet: two pods on a bridge in a node namespace (br_netfilter on, inside it), the
//      node switched a second apart between (a) bare, (a') the agent's own iptables chains (their
//      nat turns conntrack on, as on every real node), (b') those and the table without
//      policies, (c') those and 1,000 policies over 5,000 pods, in rotated rounds
//      (bench/policy-support/node-switch.ts, per-packet.ts, by issue 17's method): RTT of TCP echoes (one warm client and connection, rounds of their
//      own, then perf of the echoes per state), TCP connect time (every SYN judged in full) and
//      one running iperf3 connection per CPU-second, then perf's share of that flow's CPU in the
//      table's chains and in conntrack, on which the throughput target is judged.
// A benchmark, not a test: exits 0 whether targets are met or missed, 1 when something failed.
// Needs root; creates only namespaces (bwbench<pid>-*), all removed on exit and on SIGINT.
// Options: --rounds N (10, of the per-packet states), --rtt-rounds N (30, of the RTT series alone),
//          --connects N (200, per round and state),
//          --window N (1: seconds of TCP counted per round and state), --echoes N (2000, per round
//          and state), --repeats N (5, compiles per size).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compilePolicies } from '../daemonset/policy/compile.ts';
import { diffTables } from '../daemonset/policy/diff.ts';
import { renderChanges, renderRemove, renderReplace } from '../daemonset/policy/nft-text.ts';
import { POLICY_TABLE } from '../lib/names.ts';
import { execIn } from '../test/support/exec-in.ts';
import { IPERF3 } from './net-support/measure.ts';
import { afterOneChange, benchCluster, CLIENT, CONNECT_PORT, SERVER } from './policy-support/cluster.ts';
import { Lab, runInLab } from './support/lab.ts';
import { agentChainsPayload, NodeSwitch } from './policy-support/node-switch.ts';
import { reportPerPacket, runPerPacket } from './policy-support/per-packet.ts';
import { RttSession } from './policy-support/rtt-session.ts';
import { median, ms, table } from './support/stats.ts';

const CONNECT = path.join(import.meta.dirname, 'policy-support/connect.ts');
const POLICIES = 1000;
const SIZES = [100, 5000];
const CLUSTER_CIDR = '10.90.0.0/16';
const POD_CIDR = '10.90.0.0/23';

function options() {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, 'rtt-rounds': { type: 'string' }, connects: { type: 'string' }, window: { type: 'string' }, echoes: { type: 'string' }, repeats: { type: 'string' } } });
  const int = (text: string | undefined, fallback: number, name: string) => {
    const value = Number(text ?? fallback);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${text}`);
    return value;
  };
  return { rounds: int(values.rounds, 10, 'rounds'), rttRounds: int(values['rtt-rounds'], 30, 'rtt-rounds'), connects: int(values.connects, 200, 'connects'), window: int(values.window, 1, 'window'), echoes: int(values.echoes, 2000, 'echoes'), repeats: int(values.repeats, 5, 'repeats') };
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
    const rtt = await RttSession.open(lab, client!, CONNECT, SERVER.v4, CONNECT_PORT);
    const roundTrips = (count: number) => rtt.roundTrips(count);
    // The agent's chains for this node: the bench's pods are 10.90.0.0/24 and 10.90.1.0/24 (cluster.ts).
    const randomFully = (await execIn(node!, ['iptables-nft', '-j', 'MASQUERADE', '--help'])).stdout.includes('random-fully');
    const filter = new NodeSwitch(node!, agentChainsPayload(CLUSTER_CIDR, POD_CIDR, randomFully), {
      none: renderRemove({ family: 'inet', name: POLICY_TABLE }),
      empty: renderReplace(compilePolicies(benchCluster(0, 0)).table),
      policies: texts.get(SIZES.at(-1)!)!,
    });
    // The agent's chains turn conntrack on: with them alone, connections are tracked in the node.
    await filter.set('agent');
    await connects(CONNECT_PORT, 3);
    const tracked = Number((await execIn(node!, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).stdout.trim());
    if (!(tracked > 0)) throw new Error(`with the agent's chains, the node namespace tracks no connection (nf_conntrack_count ${tracked})`);
    progress(`the agent's chains alone: ${tracked} connections tracked in the node namespace`);
    // The table is in force: with the policies, a port none allows times out (no table: refused at once).
    await filter.set('policies');
    const denied = await connects(7001, 1).then(() => 'connected', (e: Error) => e.message);
    if (!/timed out/.test(denied)) throw new Error(`with the table, a connection to an unallowed port was not dropped: ${denied}`);
    const perPacket = await runPerPacket(lab, filter, { netns: client!, ip: CLIENT.v4 }, { netns: server!, ip: SERVER.v4 }, { connects: (n) => connects(CONNECT_PORT, n), roundTrips, rttPids: [rtt.pid, listener.pid!] }, opts, progress);
    rtt.close();
    const { lines, targets } = reportPerPacket(perPacket, opts);
    process.stdout.write([
      `bench:policy (${new Date().toISOString()}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`,
      '', 'The compiler and nft, per cluster size (CPU ms: medians of ' + opts.repeats + '):', table(compileRows),
      '', ...lines, '', 'targets',
      ...targets.map((t) => `  ${t.met ? 'PASS' : 'MISS'}  ${t.name.padEnd(60)} ${t.judged}`), '',
    ].join('\n'));
  }, { report: (line) => { failed = true; progress(line); } });
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (error: Error) => {
  process.stderr.write(`bench:policy failed: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
