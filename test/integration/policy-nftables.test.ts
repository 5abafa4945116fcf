// The compiled NetworkPolicy table on a real kernel. A node namespace with a bridge (pods on
// veths, switched) and an uplink to an "outside" namespace (routed through the node), with
// br_netfilter's bridge-nf-call-iptables/ip6tables set to 1 inside the node namespace only (they
// are per namespace here: the root namespace's value is checked unchanged). The table is loaded
// with `nft -f` of renderReplace(), a kube-proxy-like DNAT and a masquerade beside it, and every
// pod, the outside and the node probe each other over TCP and UDP, both families: the matrix must
// be exactly what explain() reads from the same compiled data, and a set of cases is pinned to
// what the API says. Then a minimal change (diff.ts) must leave the kernel exactly as a fresh load
// of the new table would, and the matrix follows it. Everything lives in the lab's namespaces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseIp } from '../../lib/cidr.ts';
import { POLICY_TABLE } from '../../lib/names.ts';
import { compilePolicies, type CompiledPolicy } from '../../daemonset/policy/compile.ts';
import { diffTables } from '../../daemonset/policy/diff.ts';
import { explain, formatExplanation, type Connection } from '../../daemonset/policy/explain.ts';
import type { NetworkPolicy, Pod } from '../../daemonset/policy/model.ts';
import { renderChanges, renderReplace } from '../../daemonset/policy/nft-text.ts';
import { execIn, run } from '../support/exec-in.ts';
import { canonicalPolicyListing } from '../support/policy-listing.ts';
import { Lab, reportProblems, uniquePrefix } from '../support/lab.ts';
import { namespace, pod, policy } from '../fixtures/policy-objects.ts';

const PROBE = path.join(import.meta.dirname, 'policy-probe.ts');
const TCP_PORTS = [80, 81, 8080, 9000, 9001, 9002];
const UDP_PORTS = [53, 80];
const NODE = 'node-1';
const BRNF = ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables'];

/** Why this file cannot run here, or false: root, nft, and what the table needs, probed in a namespace. */
async function unavailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    await run(['nft', '--version']);
  } catch {
    return 'nft is missing: scripts/install-deps.sh installs nftables';
  }
  const lab = new Lab(uniquePrefix('bwpp'));
  try {
    const [probe] = await lab.addNamespaces(['probe']);
    const ns = lab.netnsPath(probe!);
    // Conntrack in the inet family and concatenated interval maps: what the table relies on.
    await execIn(ns, ['nft', '-f', '-'], 'table inet probe {\n map m { type inet_proto . inet_service : verdict; flags interval; }\n chain c {\n type filter hook forward priority filter;\n ct state established,related accept\n meta l4proto . th dport vmap @m\n }\n}\n');
    if (!fs.existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return 'no br_netfilter (net.bridge.bridge-nf-call-iptables)';
    return false;
  } catch (error) {
    return `this kernel cannot hold the policy table: ${(error as Error).message}`;
  } finally {
    reportProblems(lab.cleanup());
  }
}
const skip = await unavailable();
if (skip) process.stderr.write(`policy-nftables: skipped: ${skip}\n`);

interface Endpoint { name: string; ns: string; v4: string; v6: string; pod?: Pod }

describe('the NetworkPolicy table in the kernel', { skip }, () => {
  const lab = new Lab(uniquePrefix('bwpol')).cleanupOnSignals();
  let rootRuleset = '';
  let rootBrnf: string[] = [];
  let node = '';
  const pods: Endpoint[] = [];
  let outside: Endpoint;
  const nft = (ns: string, text: string) => execIn(ns, ['nft', '-f', '-'], text);

  before(async () => {
    rootRuleset = (await run(['nft', 'list', 'ruleset'])).stdout;
    rootBrnf = BRNF.map((k) => fs.readFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, 'utf8').trim());
    const names = await lab.addNamespaces(['node', 'xa', 'xb', 'ya', 'yb', 'out'], { loopbackUp: true });
    const [nodeName, ...podNames] = names;
    node = lab.netnsPath(nodeName!);
    // The node: a bridge for the pods, eth1 to the outside, forwarding, and br_netfilter's
    // switches set here, in the node's namespace (sysctl inside nsenter writes that namespace's).
    for (const cmd of [
      ['ip', 'link', 'add', 'br0', 'type', 'bridge'], ['ip', 'link', 'set', 'br0', 'up'],
      ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'br0'], ['ip', 'addr', 'add', 'fd77::1/64', 'dev', 'br0', 'nodad'],
      ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', ...BRNF.map((k) => `${k}=1`)],
    ]) await execIn(node, cmd);
    const spec = [
      { name: 'x/a', v4: '10.77.0.11', v6: 'fd77::11', labels: { pod: 'a' }, ports: [{ name: 'http', containerPort: 8080 }] },
      { name: 'x/b', v4: '10.77.0.12', v6: 'fd77::12', labels: { pod: 'b' } },
      { name: 'y/a', v4: '10.77.0.21', v6: 'fd77::21', labels: { pod: 'a' } },
      { name: 'y/b', v4: '10.77.0.22', v6: 'fd77::22', labels: { pod: 'b' } },
    ];
    for (const [i, p] of spec.entries()) {
      const ns = lab.netnsPath(podNames[i]!);
      await lab.addVeth({ netns: nodeName!, name: `bwp${i}`, master: 'br0' }, { netns: podNames[i]!, name: 'eth0', address: `${p.v4}/24` });
      await execIn(ns, ['ip', 'addr', 'add', `${p.v6}/64`, 'dev', 'eth0', 'nodad']);
      await execIn(ns, ['ip', 'route', 'add', 'default', 'via', '10.77.0.1']);
      await execIn(ns, ['ip', '-6', 'route', 'add', 'default', 'via', 'fd77::1']);
      pods.push({ name: p.name, ns, v4: p.v4, v6: p.v6, pod: pod(p.name, [p.v4, p.v6], p.labels, { node: NODE, ...(p.ports ? { ports: p.ports } : {}) }) });
    }
    // Outside the cluster, routed through the node: two IPv4 addresses (one an ipBlock except).
    const out = lab.netnsPath(podNames[4]!);
    await lab.addVeth({ netns: nodeName!, name: 'eth1' }, { netns: podNames[4]!, name: 'eth0', address: '10.78.0.2/24' });
    for (const cmd of [['ip', 'addr', 'add', '10.78.0.1/24', 'dev', 'eth1'], ['ip', 'addr', 'add', 'fd78::1/64', 'dev', 'eth1', 'nodad']]) await execIn(node, cmd);
    for (const cmd of [['ip', 'addr', 'add', '10.78.0.3/24', 'dev', 'eth0'], ['ip', 'addr', 'add', 'fd78::2/64', 'dev', 'eth0', 'nodad'], ['ip', 'route', 'add', 'default', 'via', '10.78.0.1'], ['ip', '-6', 'route', 'add', 'default', 'via', 'fd78::1']]) await execIn(out, cmd);
    outside = { name: 'outside', ns: out, v4: '10.78.0.2', v6: 'fd78::2' };
    // kube-proxy's part, imitated: a Service address DNATed to x/a's http port before our
    // forward hook, and pods masqueraded to the outside after it.
    await nft(node, [
      'table ip kubeproxy {',
      ' chain pre { type nat hook prerouting priority dstnat; ip daddr 10.96.0.10 tcp dport 80 dnat to 10.77.0.11:8080; }',
      ' chain post { type nat hook postrouting priority srcnat; ip saddr 10.77.0.0/24 oifname "eth1" masquerade; }',
      '}', '',
    ].join('\n'));
    for (const endpoint of [...pods, outside]) {
      const server = spawn('nsenter', [`--net=${endpoint.ns}`, '--', process.execPath, PROBE, 'serve', TCP_PORTS.join(','), UDP_PORTS.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
      lab.track(server);
      await new Promise<void>((resolve, reject) => {
        server.stdout.once('data', (d) => (String(d).includes('ready') ? resolve() : reject(new Error(`server in ${endpoint.name}: ${d}`))));
        server.once('exit', (code) => reject(new Error(`server in ${endpoint.name} exited ${code}`)));
      });
    }
  });
  after(async () => {
    reportProblems(lab.cleanup());
    assert.equal((await run(['nft', 'list', 'ruleset'])).stdout, rootRuleset, 'the root namespace\'s ruleset changed');
    assert.deepEqual(BRNF.map((k) => fs.readFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, 'utf8').trim()), rootBrnf, 'the root namespace\'s br_netfilter switches changed');
  });

  const ep = (name: string) => [...pods, outside].find((e) => e.name === name)!;
  const namespaces = [namespace('x', { team: 'x' }), namespace('y', { team: 'y' })];
  const compile = (policies: NetworkPolicy[], podList = pods.map((p) => p.pod!)) => compilePolicies({ pods: podList, namespaces, policies, nodeName: NODE });
  const stateA = () => compile([
    policy('x/deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
    policy('x/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 'http' }] }] }),
    policy('x/range', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [
      { from: [{ ipBlock: { cidr: '10.78.0.0/24', except: ['10.78.0.3/32'] } }], ports: [{ port: 9000, endPort: 9001 }] },
      { from: [{ namespaceSelector: {} }], ports: [{ port: 53, protocol: 'UDP' }] },
    ] }),
    policy('y/lockdown', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Ingress', 'Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.78.0.0/24' } }], ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] }] }),
  ]);

  interface Case { from: string; fromAddress?: string; to: string; family: 4 | 6; proto: 'tcp' | 'udp'; port: number; viaService?: boolean }
  /** Every source against every other endpoint, both families, a few ports. */
  function matrix(): Case[] {
    const cases: Case[] = [];
    const sources: { from: string; fromAddress?: string }[] = [...pods.map((p) => ({ from: p.name })), { from: 'outside' }, { from: 'outside', fromAddress: '10.78.0.3' }, { from: 'node' }];
    for (const s of sources) {
      for (const dst of [...pods, outside]) {
        if (dst.name === s.from || (s.from === 'node' && dst === outside)) continue;
        for (const family of [4, 6] as const) {
          if (s.fromAddress && family === 6) continue;
          for (const [proto, port] of [['tcp', 80], ['tcp', 8080], ['tcp', 9000], ['tcp', 9002], ['udp', 53]] as const) cases.push({ ...s, to: dst.name, family, proto, port });
        }
      }
    }
    for (const p of pods) cases.push({ from: p.name, to: 'x/a', family: 4, proto: 'tcp', port: 80, viaService: true });
    return cases.filter((c) => !(c.viaService && c.from === 'x/a'));
  }

  /** The connection explain() judges: after the Service's DNAT, the source a pod or the outside uses. */
  function connection(c: Case): Connection {
    const dst = ep(c.to);
    const to = c.viaService ? { address: '10.77.0.11', port: 8080 } : { address: c.family === 4 ? dst.v4 : dst.v6, port: c.port };
    const src = c.from === 'node' ? 'node' : parseIp(c.fromAddress ?? (c.family === 4 ? ep(c.from).v4 : ep(c.from).v6))!;
    return { src, dst: parseIp(to.address)!, proto: c.proto === 'tcp' ? 6 : 17, port: to.port };
  }

  /** The kernel's answers: one probe process per source, all its probes at once. */
  async function probe(cases: readonly Case[]): Promise<boolean[]> {
    const results = new Array<boolean>(cases.length);
    const bySource = new Map<string, number[]>();
    cases.forEach((c, i) => bySource.set(c.from, [...(bySource.get(c.from) ?? []), i]));
    await Promise.all([...bySource].map(async ([from, indices]) => {
      const ns = from === 'node' ? node : ep(from).ns;
      const list = indices.map((i) => {
        const c = cases[i]!;
        const dst = ep(c.to);
        return { to: c.viaService ? '10.96.0.10' : c.family === 4 ? dst.v4 : dst.v6, proto: c.proto, port: c.port, ...(c.fromAddress ? { from: c.fromAddress } : {}) };
      });
      const { stdout } = await execIn(ns, [process.execPath, PROBE, 'probe', JSON.stringify(list)]);
      (JSON.parse(stdout) as boolean[]).forEach((ok, j) => (results[indices[j]!] = ok));
    }));
    return results;
  }

  const label = (c: Case) => `${c.from}${c.fromAddress ? `(${c.fromAddress})` : ''} -> ${c.viaService ? 'service 10.96.0.10:80 (x/a:8080)' : c.to} IPv${c.family} ${c.proto}/${c.port}`;

  async function assertMatrix(compiled: CompiledPolicy): Promise<Map<string, boolean>> {
    // From empty neighbour tables: ARP and IPv6 neighbour discovery (whose advertisements to an
    // isolated pod only the table's ND rule lets through) happen under the table too.
    for (const ns of [node, ...pods.map((p) => p.ns), outside.ns]) await execIn(ns, ['ip', 'neigh', 'flush', 'all']);
    const cases = matrix();
    const got = await probe(cases);
    const wrong: string[] = [];
    const seen = new Map<string, boolean>();
    cases.forEach((c, i) => {
      const e = explain(compiled, connection(c));
      seen.set(label(c), got[i]!);
      if (e.allowed !== got[i]) wrong.push(`${label(c)}: kernel ${got[i] ? 'allowed' : 'denied'}, explain: ${formatExplanation(connection(c), e)}`);
    });
    const allowed = got.filter(Boolean).length;
    process.stderr.write(`policy matrix: ${cases.length} probes, ${allowed} allowed, ${cases.length - allowed} denied\n`);
    assert.deepEqual(wrong, [], 'the kernel and explain() disagree');
    assert.ok(allowed > 20 && cases.length - allowed > 20, 'the matrix holds both verdicts');
    return seen;
  }

  test('with no table every probe passes (the matrix\'s control)', async () => {
    const cases = matrix();
    const got = await probe(cases);
    assert.deepEqual(cases.filter((_c, i) => !got[i]).map(label), []);
  });

  test('state A: the kernel\'s matrix is explain()\'s, and each representative case is what the API says', async () => {
    const compiled = stateA();
    assert.deepEqual(compiled.errors, []);
    await nft(node, renderReplace(compiled.table));
    await nft(node, renderReplace(compiled.table)); // replacing a loaded table is one transaction too
    const seen = await assertMatrix(compiled);
    const expect: [string, boolean][] = [
      ['y/a -> x/b IPv4 tcp/80', false], // default deny ingress
      ['y/a -> x/a IPv4 tcp/8080', true], // namespaceSelector + podSelector, named port "http"
      ['x/b -> x/a IPv4 tcp/8080', false], // same port, a peer outside the selectors
      ['y/a -> x/a IPv4 tcp/80', false], // a peer inside, another port
      ['outside -> x/b IPv4 tcp/9000', true], // ipBlock and endPort, routed through the node
      ['outside -> x/b IPv4 tcp/9002', false], // past endPort
      ['outside(10.78.0.3) -> x/b IPv4 tcp/9000', false], // ipBlock except
      ['y/a -> x/b IPv4 udp/53', true], // UDP, namespaceSelector {}
      ['y/b -> y/a IPv4 tcp/80', false], // egress deny: y/a itself is open
      ['y/b -> outside IPv4 tcp/80', true], // egress to an ipBlock, judged before the masquerade; the reply passes y/b's deny-all ingress
      ['y/b -> outside IPv4 udp/53', true], // and a UDP reply
      ['y/b -> outside IPv6 tcp/80', false], // the block is IPv4 only
      ['outside -> y/b IPv4 tcp/80', false], // y/b's ingress: deny all
      ['node -> x/a IPv4 tcp/80', true], // the node's own traffic
      ['node -> y/b IPv6 tcp/80', true],
      ['y/a -> x/a IPv6 tcp/8080', true], // IPv6 through the same rules
      ['x/b -> x/a IPv6 tcp/8080', false],
      ['outside -> y/a IPv6 tcp/80', true], // no policy selects y/a for ingress
      ['y/a -> service 10.96.0.10:80 (x/a:8080) IPv4 tcp/80', true], // judged against the backend after DNAT
      ['x/b -> service 10.96.0.10:80 (x/a:8080) IPv4 tcp/80', false],
    ];
    assert.deepEqual(expect.map(([name]) => [name, seen.get(name)]), expect);
    const listing = (await execIn(node, ['nft', 'list', 'table', 'inet', POLICY_TABLE])).stdout;
    assert.match(listing, /chain pods_forward \{\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tct state established,related accept/);
  });

  test('a minimal change leaves the kernel as a fresh load of the new table; the matrix follows it', async () => {
    const before = stateA();
    // y/b relabelled (no longer locked down, now a peer of x/web), x/range gone, and y may only
    // reach the outside over IPv6.
    const relabelled = pods.map((p) => (p.name === 'y/b' ? { ...p.pod!, metadata: { ...p.pod!.metadata, labels: { pod: 'a' } } } : p.pod!));
    const after = compile([
      policy('x/deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
      policy('x/web', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 'http' }] }] }),
      policy('y/lockdown', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Ingress', 'Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.78.0.0/24' } }], ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] }] }),
      policy('y/out6', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: 'fd78::/64' } }] }, { to: [{ namespaceSelector: {} }] }] }),
    ], relabelled);
    const changes = diffTables(before.table, after.table);
    assert.ok(!changes.some((c) => c.op === 'replace-table'));
    await nft(node, renderChanges(after.table, changes));
    const [fresh] = await lab.addNamespaces(['fresh']);
    await nft(lab.netnsPath(fresh!), renderReplace(after.table));
    assert.deepEqual(await canonicalPolicyListing(node), await canonicalPolicyListing(lab.netnsPath(fresh!)));
    const seen = await assertMatrix(after);
    assert.equal(seen.get('y/b -> x/a IPv4 tcp/8080'), true, 'y/b is now a peer of x/web');
    assert.equal(seen.get('y/b -> outside IPv4 tcp/80'), false, 'y now reaches the outside over IPv6 only');
    assert.equal(seen.get('y/b -> outside IPv6 tcp/80'), true);
    assert.equal(seen.get('outside -> x/b IPv4 tcp/9000'), false, 'x/range is gone: x/b is back to deny-all');
  });
});

