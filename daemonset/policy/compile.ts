// The NetworkPolicy compiler: (pods, namespaces, policies, node) -> this node's table, as data.
// Pure. The table's shape and why are in docs/architecture.md ("NetworkPolicy in the kernel");
// in short, a new connection's verdict is a fixed number of lookups on each side it is judged:
//
//   pods_forward (hook forward)
//     ct state established,related accept            replies and the rest of judged connections
//     ICMPv6 NS/NA with hop limit 255 accept         IPv6's ARP: never isolated away
//     saddr . daddr @self4/6 accept                  a pod cannot block its own traffic to itself
//     saddr vmap @from_pod4/6  -> jump <egress class>   this node's egress-isolated pods only
//     daddr vmap @to_pod4/6    -> jump <ingress class>  this node's ingress-isolated pods only
//   <class>: the pods isolated by the same policies with the same resolved ports
//     (egress) daddr . l4proto . dport @<named>  return      named ports, resolved on the destination
//     l4proto . dport vmap @<class>_ports -> goto <peers>    the rules whose ports cover the port
//     goto <peers of the rules without ports>  |  drop
//   <peers>: the union of the peers of one set of rules
//     addr @<peers>_a4/6 (hash, pods)  |  addr @<peers>_b4/6 (intervals, ipBlocks)  -> accept (ingress) / return (egress)
//     drop
//
// Object names come from what they stand for (the rules of a peers chain; the content of a class),
// not from a counter, so a change of pods or labels keeps every name and becomes element changes
// (diff.ts), and a new set of rules adds its own objects beside the others.
import { createHash } from 'node:crypto';
import { POLICY_TABLE } from '../../lib/names.ts';
import type { IpAddress, IpFamily } from '../../lib/cidr.ts';
import { ruleRefText, type Direction, type PolicyInput, type RuleRef } from './model.ts';
import { partitionPorts, rangeContains, unionRanges, type AddressRange } from './ranges.ts';
import { EVERYTHING, resolvePolicies, type PolicyError, type PolicyPod, type ResolvedPolicy, type ResolvedRule } from './resolve.ts';
import { BASE, type ChainSpec, type Element, type Field, type Rule, type SetSpec, type PolicyTable } from './table.ts';

/** What each compiled rule stands for, for explain() to say which of a union's rules matched. */
export interface CompiledRule {
  ref: RuleRef;
  addresses: ReadonlySet<string>;
  blocks: readonly AddressRange[];
  /** `ip proto port` of the destinations its named ports resolved to (egress). */
  named: ReadonlySet<string>;
}

export interface CompiledPolicy {
  table: PolicyTable;
  rules: ReadonlyMap<string, CompiledRule>;
  errors: readonly PolicyError[];
  stats: { policies: number; isolatedPods: { ingress: number; egress: number }; classes: number; peerSets: number; elements: number };
}

const FAMILIES: readonly IpFamily[] = [4, 6];
const ADDR: Record<'src' | 'dst', Record<IpFamily, Field>> = { src: { 4: 'ip saddr', 6: 'ip6 saddr' }, dst: { 4: 'ip daddr', 6: 'ip6 daddr' } };
const PREFIX: Record<Direction, { class: string; peers: string; named: string }> = {
  ingress: { class: 'ic_', peers: 'ik_', named: 'in_' },
  egress: { class: 'ec_', peers: 'ek_', named: 'en_' },
};

// node:crypto, not lib/sha256.ts: that one spares the plugin's start-up; keys here run to
// tens of kilobytes (a class of 2,000 port fragments), where native hashing is ~10x faster.
const id = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
const refsId = (refs: readonly RuleRef[]) => refs.map(ruleRefText).join('\n');
const byRef = (a: RuleRef, b: RuleRef) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : a.direction < b.direction ? -1 : a.direction > b.direction ? 1 : a.index - b.index);
const sameRef = (a: RuleRef, b: RuleRef) => a.policy === b.policy && a.direction === b.direction && a.index === b.index;

interface PeerSetPlan { name: string; direction: Direction; rules: RuleRef[] }
interface NamedPlan { name: string; rules: RuleRef[] }
interface ClassPlan {
  name: string;
  direction: Direction;
  policies: string[];
  fragments: { proto: number; first: number; last: number; peers: string }[];
  anyPort?: string;
  named?: string;
}

export interface CompileOptions {
  /**
   * Also work out what each rule stands for (`rules`, explain's: a set of addresses per rule,
   * ~70,000 entries at 5,000 pods and 20 policies, ~500,000 at 1,000). Default true; the agent,
   * which needs only the table, passes false and gets an empty map: at 5,000 pods those sets
   * were the largest part of a compile's working set, and so of the agent's peak RSS.
   */
  rules?: boolean;
  /**
   * Called between the compile's steps (after the pods, after each policy, after planning the
   * classes, after each peer set): the agent collects young garbage there (loop/memory.ts), so one step's garbage is
   * reused by the next instead of adding up to the agent's peak RSS. Must not touch the input.
   */
  checkpoint?: () => void;
}

/** The table for this node, what each rule stands for, and the policies that failed to compile. */
export function compilePolicies(input: PolicyInput, options: CompileOptions = {}): CompiledPolicy {
  const checkpoint = options.checkpoint ?? (() => {});
  const resolved = resolvePolicies(input, checkpoint);
  const ruleByText = new Map<string, ResolvedRule>();
  for (const policy of resolved.policies) for (const rule of policy.rules) ruleByText.set(ruleRefText(rule.ref), rule);

  const peerSets = new Map<string, PeerSetPlan>();
  const namedSets = new Map<string, NamedPlan>();
  const classes = new Map<string, ClassPlan>();
  /** Per direction: this node's isolated pod addresses (by key) -> class chain. */
  const members: Record<Direction, Map<string, { ip: IpAddress; chain: string }>> = { ingress: new Map(), egress: new Map() };
  const isolatedPods = { ingress: 0, egress: 0 };

  const peersFor = (direction: Direction, refs: RuleRef[]): string => {
    const sorted = [...refs].sort(byRef);
    const key = `${direction}\n${refsId(sorted)}`;
    let plan = peerSets.get(key);
    if (!plan) peerSets.set(key, (plan = { name: PREFIX[direction].peers + id(key), direction, rules: sorted }));
    return plan.name;
  };

  const localPods = resolved.pods.filter((p) => p.local);
  const selecting = new Map<PolicyPod, ResolvedPolicy[]>();
  for (const policy of resolved.policies) {
    for (const pod of policy.targets) {
      const list = selecting.get(pod);
      if (list) list.push(policy);
      else selecting.set(pod, [policy]);
    }
  }
  // Pods selected by the same policies share their class, unless a named port resolves
  // differently on them (ingress): worked out once per such group, not once per pod.
  const classOf = new Map<string, ClassPlan>();
  const namesIngressPorts = new Map(resolved.policies.map((p) => [p, p.rules.some((r) => r.ref.direction === 'ingress' && r.ports?.some((spec) => spec.kind === 'named'))]));
  for (const direction of ['ingress', 'egress'] as const) {
    for (const pod of localPods) {
      const policies = (selecting.get(pod) ?? []).filter((p) => p.directions.has(direction));
      if (policies.length === 0) continue; // not isolated for this direction: today's behaviour
      isolatedPods[direction]++;
      const resolvesNames = direction === 'ingress' && policies.some((p) => namesIngressPorts.get(p));
      const groupKey = `${direction}\n${policies.map((p) => p.key).join('\n')}${resolvesNames ? `\n${JSON.stringify([...pod.namedPorts])}` : ''}`;
      const known = classOf.get(groupKey);
      if (known) {
        pod.ips.forEach((ip, i) => members[direction].set(pod.ipKeys[i]!, { ip, chain: known.name }));
        continue;
      }
      const rules = policies.flatMap((p) => p.rules.filter((r) => r.ref.direction === direction));
      const anyPort = rules.filter((r) => !r.ports).map((r) => r.ref);
      const ranges: { range: { proto: number; first: number; last: number }; label: RuleRef }[] = [];
      const named: RuleRef[] = [];
      for (const rule of rules) {
        for (const spec of rule.ports ?? []) {
          if (spec.kind === 'range') ranges.push({ range: spec.range, label: rule.ref });
          else if (direction === 'ingress') {
            // Ingress: the name is the target's own port (resolved on this pod).
            const port = pod.namedPorts.get(`${spec.name}/${spec.proto}`);
            if (port !== undefined) ranges.push({ range: { proto: spec.proto, first: port, last: port }, label: rule.ref });
          } else if (!named.some((r) => sameRef(r, rule.ref))) named.push(rule.ref);
        }
      }
      const fragments = partitionPorts(ranges, sameRef).map((f) => ({
        proto: f.proto, first: f.first, last: f.last,
        peers: peersFor(direction, [...f.labels, ...anyPort.filter((a) => !f.labels.some((l) => sameRef(l, a)))]),
      }));
      const plan: Omit<ClassPlan, 'name'> = {
        direction,
        policies: policies.map((p) => p.key).sort(),
        fragments,
        ...(anyPort.length > 0 ? { anyPort: peersFor(direction, anyPort) } : {}),
      };
      if (named.length > 0) {
        const sorted = named.sort(byRef);
        const key = refsId(sorted);
        if (!namedSets.has(key)) namedSets.set(key, { name: PREFIX.egress.named + id(key), rules: sorted });
        plan.named = namedSets.get(key)!.name;
      }
      const classKey = JSON.stringify(plan);
      let cls = classes.get(classKey);
      if (!cls) classes.set(classKey, (cls = { name: PREFIX[direction].class + id(classKey), ...plan }));
      classOf.set(groupKey, cls);
      pod.ips.forEach((ip, i) => members[direction].set(pod.ipKeys[i]!, { ip, chain: cls.name }));
    }
  }

  checkpoint();

  // What each rule stands for, for explain(); the table itself needs only the named ports'
  // tuples of the rules that egress classes look named ports up for (namedOf, below).
  const compiledRules = new Map<string, CompiledRule>();
  if (options.rules ?? true) {
    for (const [text, rule] of ruleByText) {
      compiledRules.set(text, { ref: rule.ref, addresses: new Set(rule.pods.flatMap((p) => p.ipKeys)), blocks: rule.blocks, named: namedTuples(rule, resolved.pods) });
    }
  }
  const namedMemo = new Map<string, ReadonlySet<string>>();
  const namedOf = (ref: RuleRef): ReadonlySet<string> => {
    const text = ruleRefText(ref);
    let named = compiledRules.get(text)?.named ?? namedMemo.get(text);
    if (!named) namedMemo.set(text, (named = namedTuples(ruleByText.get(text)!, resolved.pods)));
    return named;
  };

  const sets: SetSpec[] = [];
  const chains: ChainSpec[] = [];
  // One element object per pod address, shared by every peer set holding it (elements are
  // read-only data): at 1,000 policies 24,000 elements are ~5,000 distinct addresses.
  const elementOf = new Map<IpAddress, Element>();
  const addressElement = (ip: IpAddress): Element => {
    let element = elementOf.get(ip);
    if (!element) elementOf.set(ip, (element = { key: [{ ip }] }));
    return element;
  };
  const verdict = (direction: Direction) => ({ verdict: direction === 'ingress' ? 'accept' : 'return' } as const);

  for (const plan of peerSets.values()) {
    const rules = plan.rules.map((r) => ruleByText.get(ruleRefText(r))!);
    const side = plan.direction === 'ingress' ? 'src' : 'dst';
    const blocks = unionRanges(rules.flatMap((r) => r.blocks));
    const chainRules: Rule[] = [];
    if (EVERYTHING.every((all) => blocks.some((b) => b.family === all.family && b.first === all.first && b.last === all.last))) {
      chainRules.push({ matches: [], verdict: verdict(plan.direction), because: plan.rules });
    } else {
      for (const family of FAMILIES) {
        const familyBlocks = blocks.filter((b) => b.family === family);
        // Each address once (pods of several rules; two pods reported with one address), and
        // pod addresses already inside a block need no element of their own. Plain loops: at
        // 1,000 policies this runs over ~100,000 pod addresses per compile, and its garbage
        // (iterators, closures, copies) is part of the agent's peak RSS.
        const seen = new Set<string>();
        const exact: IpAddress[] = [];
        for (const rule of rules) {
          for (const pod of rule.pods) {
            for (let i = 0; i < pod.ips.length; i++) {
              const ip = pod.ips[i]!;
              const key = pod.ipKeys[i]!;
              if (ip.family !== family || seen.has(key)) continue;
              seen.add(key);
              if (familyBlocks.length === 0 || !familyBlocks.some((b) => rangeContains(b, family, ip.value))) exact.push(ip);
            }
          }
        }
        exact.sort((a, b) => (a.value < b.value ? -1 : 1));
        if (exact.length > 0) {
          const name = `${plan.name}_a${family}`;
          sets.push({ name, key: [ADDR[side][family]], interval: false, verdictMap: false, elements: exact.map(addressElement) });
          chainRules.push({ matches: [{ match: 'lookup', set: name, key: [ADDR[side][family]] }], verdict: verdict(plan.direction), because: plan.rules });
        }
        if (familyBlocks.length > 0) {
          const name = `${plan.name}_b${family}`;
          sets.push({ name, key: [ADDR[side][family]], interval: true, verdictMap: false, elements: familyBlocks.map((range) => ({ key: [{ range }] })) });
          chainRules.push({ matches: [{ match: 'lookup', set: name, key: [ADDR[side][family]] }], verdict: verdict(plan.direction), because: plan.rules });
        }
      }
      chainRules.push({ matches: [], verdict: { verdict: 'drop' } });
    }
    chains.push({ name: plan.name, role: { role: 'peers', direction: plan.direction, rules: plan.rules }, rules: chainRules });
    checkpoint();
  }

  const namedRules = new Map<string, Rule[]>();
  for (const plan of namedSets.values()) {
    const rules: Rule[] = [];
    for (const family of FAMILIES) {
      const tuples = new Map<string, Element>();
      for (const ref of plan.rules) {
        for (const tuple of namedOf(ref)) {
          const [f, value, proto, port] = tuple.split(' ');
          if (Number(f) !== family) continue;
          tuples.set(tuple, { key: [{ ip: { family, value: BigInt(value!) } }, { proto: Number(proto) }, { port: Number(port) }] });
        }
      }
      if (tuples.size === 0) continue;
      const name = `${plan.name}_${family}`;
      const key: Field[] = [ADDR.dst[family], 'meta l4proto', 'th dport'];
      sets.push({ name, key, interval: false, verdictMap: false, elements: [...tuples.keys()].sort().map((k) => tuples.get(k)!) });
      rules.push({ matches: [{ match: 'lookup', set: name, key }], verdict: { verdict: 'return' }, because: plan.rules });
    }
    namedRules.set(plan.name, rules);
  }

  for (const cls of classes.values()) {
    const rules: Rule[] = [...(cls.named ? namedRules.get(cls.named)! : [])];
    if (cls.fragments.length > 0) {
      const name = `${cls.name}_ports`;
      sets.push({
        name, key: ['meta l4proto', 'th dport'], interval: true, verdictMap: true,
        elements: cls.fragments.map((f) => ({ key: [{ proto: f.proto }, { ports: [f.first, f.last] as const }], to: { verdict: 'goto' as const, chain: f.peers } })),
      });
      rules.push({ vmap: name, key: ['meta l4proto', 'th dport'] });
    }
    rules.push(cls.anyPort ? { matches: [], verdict: { verdict: 'goto', chain: cls.anyPort } } : { matches: [], verdict: { verdict: 'drop' } });
    chains.push({ name: cls.name, role: { role: 'class', direction: cls.direction, policies: cls.policies }, rules });
  }

  // Keyed, so that two pods reported with one address (a stale pod during churn) make one
  // element: nft refuses a set whose elements repeat.
  const localIps = [...new Map(localPods.flatMap((p) => p.ips.map((ip, i) => [p.ipKeys[i]!, ip] as const))).values()];
  const baseSets: SetSpec[] = [];
  for (const family of FAMILIES) {
    const mine = localIps.filter((ip) => ip.family === family).sort((a, b) => (a.value < b.value ? -1 : 1));
    baseSets.push({ name: BASE.self[family], key: [ADDR.src[family], ADDR.dst[family]], interval: false, verdictMap: false, elements: mine.map((ip) => ({ key: [{ ip }, { ip }] })) });
  }
  for (const [direction, names, field] of [['egress', BASE.from, 'src'], ['ingress', BASE.to, 'dst']] as const) {
    for (const family of FAMILIES) {
      const elements = [...members[direction].values()].filter((m) => m.ip.family === family).sort((a, b) => (a.ip.value < b.ip.value ? -1 : 1))
        .map((m): Element => ({ key: [{ ip: m.ip }], to: { verdict: 'jump', chain: m.chain } }));
      baseSets.push({ name: names[family], key: [ADDR[field][family]], interval: false, verdictMap: true, elements });
    }
  }
  const base: ChainSpec = {
    name: BASE.chain,
    hook: { hook: 'forward', priority: 0, policy: 'accept' },
    role: { role: 'base' },
    rules: [
      { matches: [{ match: 'ct-established' }], verdict: { verdict: 'accept' }, note: 'a reply or later packet of a connection already judged' },
      { matches: [{ match: 'neighbour-discovery' }], verdict: { verdict: 'accept' }, note: 'IPv6 neighbour discovery (the ARP of IPv6) is never isolated' },
      ...FAMILIES.map((f): Rule => ({ matches: [{ match: 'lookup', set: BASE.self[f], key: [ADDR.src[f], ADDR.dst[f]] }], verdict: { verdict: 'accept' }, note: 'a pod\'s traffic to itself is always allowed' })),
      ...FAMILIES.map((f): Rule => ({ vmap: BASE.from[f], key: [ADDR.src[f]] })),
      ...FAMILIES.map((f): Rule => ({ vmap: BASE.to[f], key: [ADDR.dst[f]] })),
    ],
  };

  const allSets = [...baseSets, ...sets];
  return {
    table: { family: 'inet', name: POLICY_TABLE, sets: allSets, chains: [...chains, base] },
    rules: compiledRules,
    errors: resolved.errors,
    stats: {
      policies: resolved.policies.length,
      isolatedPods,
      classes: classes.size,
      peerSets: peerSets.size,
      elements: allSets.reduce((n, s) => n + s.elements.length, 0),
    },
  };
}

/**
 * An egress rule's named ports resolved on each destination pod it allows: `family value proto
 * port` per address. A pod counts through the rule's selectors (all its addresses) or through an
 * ipBlock or a missing `to` (the addresses inside them): a name means nothing on a non-pod address.
 */
function namedTuples(rule: ResolvedRule, pods: readonly PolicyPod[]): Set<string> {
  const out = new Set<string>();
  const specs = (rule.ports ?? []).filter((p) => p.kind === 'named');
  if (rule.ref.direction !== 'egress' || specs.length === 0) return out;
  const selected = new Set(rule.pods);
  for (const pod of pods) {
    const ips = selected.has(pod) ? pod.ips : pod.ips.filter((ip) => rule.blocks.some((b) => rangeContains(b, ip.family, ip.value)));
    for (const spec of specs) {
      const port = pod.namedPorts.get(`${spec.name}/${spec.proto}`);
      if (port === undefined) continue;
      for (const ip of ips) out.add(`${ip.family} ${ip.value} ${spec.proto} ${port}`);
    }
  }
  return out;
}
