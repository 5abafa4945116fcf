// explain(): the verdict on a new connection and the policy rules that decided it, read from the
// compiled table itself (table.ts), not from the policies: it walks the chains as the kernel does
// (rules in order, vmap lookups, jump pushes a return point, goto does not, a base chain ends in
// its policy), so what it says is what the loaded table does. The integration test holds the
// kernel's answers for real packets against it.
import { formatIp, type IpAddress } from '../../lib/cidr.ts';
import { ruleRefText, type Direction, type RuleRef } from './model.ts';
import type { CompiledPolicy } from './compile.ts';
import { rangeContains } from './ranges.ts';
import { isVmap, type ChainSpec, type Element, type Field, type KeyPart, type Match, type Rule, type SetSpec, type Verdict } from './table.ts';

export interface Connection {
  /** 'node' for traffic this node sends itself (kubelet's probes): it never reaches the forward hook. */
  src: IpAddress | 'node';
  dst: IpAddress;
  /** IP protocol number (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6). */
  proto: number;
  /** Destination port; ignored by rules for protocols without ports, which have none. */
  port: number;
}

export type SideVerdict =
  | { judged: false }
  | { judged: true; allowed: boolean; isolatedBy: readonly string[]; allowedBy: readonly RuleRef[] };

export interface Explanation {
  allowed: boolean;
  egress: SideVerdict;
  ingress: SideVerdict;
  /** Why, in one line: the deciding rule's note, or the policies and rules of each judged side. */
  reason: string;
  /** The rules that fired, as `chain#index: nft spelling`-ready pairs. */
  path: readonly { chain: string; rule: number }[];
}

class ExplainError extends Error {
  override name = 'ExplainError';
}

function field(conn: Connection & { src: IpAddress }, f: Field): KeyPart | undefined {
  switch (f) {
    case 'ip saddr': return conn.src.family === 4 ? { ip: conn.src } : undefined;
    case 'ip daddr': return conn.dst.family === 4 ? { ip: conn.dst } : undefined;
    case 'ip6 saddr': return conn.src.family === 6 ? { ip: conn.src } : undefined;
    case 'ip6 daddr': return conn.dst.family === 6 ? { ip: conn.dst } : undefined;
    case 'meta l4proto': return { proto: conn.proto };
    case 'th dport': return { port: conn.port };
  }
}

function partMatches(element: KeyPart, value: KeyPart): boolean {
  if ('ip' in value) {
    if ('ip' in element) return element.ip.family === value.ip.family && element.ip.value === value.ip.value;
    if ('range' in element) return rangeContains(element.range, value.ip.family, value.ip.value);
    return false;
  }
  if ('proto' in value) return 'proto' in element && element.proto === value.proto;
  if ('port' in value) {
    if ('port' in element) return element.port === value.port;
    if ('ports' in element) return value.port >= element.ports[0] && value.port <= element.ports[1];
  }
  return false;
}

function lookup(set: SetSpec, key: readonly Field[], conn: Connection & { src: IpAddress }): Element | undefined {
  const values = key.map((f) => field(conn, f));
  if (values.some((v) => v === undefined)) return undefined; // another family: the rule does not apply
  return set.elements.find((e) => e.key.every((part, i) => partMatches(part, values[i]!)));
}

/** The verdict on `conn` if it opened a new connection through this node's forward hook now. */
export function explain(compiled: CompiledPolicy, conn: Connection): Explanation {
  if (conn.src === 'node') {
    return { allowed: true, egress: { judged: false }, ingress: { judged: false }, path: [], reason: 'the node\'s own traffic leaves by the output hook: policies never judge it' };
  }
  const packet = conn as Connection & { src: IpAddress };
  const { table } = compiled;
  const sets = new Map(table.sets.map((s) => [s.name, s]));
  const chains = new Map(table.chains.map((c) => [c.name, c]));
  const base = table.chains.find((c) => c.hook);
  if (!base) throw new ExplainError('the table has no base chain');

  const sides: Record<Direction, SideVerdict> = { egress: { judged: false }, ingress: { judged: false } };
  const path: { chain: string; rule: number }[] = [];
  const stack: { chain: ChainSpec; next: number }[] = [];
  let chain = base;
  let index = 0;
  let note = '';
  const judging = (): Direction | undefined => {
    for (const frame of [{ chain }, ...[...stack].reverse()]) if (frame.chain.role.role !== 'base') return frame.chain.role.direction;
    return undefined;
  };
  // The class chain a direction entered names the policies isolating that end (a goto on to a
  // peers chain leaves no frame behind, so it is remembered on entry).
  const isolating: Partial<Record<Direction, readonly string[]>> = {};
  const isolatedBy = (direction: Direction): readonly string[] => isolating[direction] ?? [];
  const settle = (direction: Direction, allowed: boolean, because: readonly RuleRef[]) => {
    sides[direction] = { judged: true, allowed, isolatedBy: isolatedBy(direction), allowedBy: allowed ? matchingRules(compiled, because, direction, packet) : [] };
  };

  for (let steps = 0; steps < 10_000; steps++) {
    const rule: Rule | undefined = chain.rules[index];
    if (!rule) {
      // The end of a chain: a base chain's policy, or back to the chain that jumped here.
      const frame = stack.pop();
      if (!frame) return finish(true, `the end of ${chain.name}: its policy, ${base.hook!.policy}`);
      const direction = judging();
      if (direction && chain.role.role !== 'base') settle(direction, true, []);
      chain = frame.chain;
      index = frame.next;
      continue;
    }
    let verdict: Verdict | undefined;
    if (isVmap(rule)) {
      const set = sets.get(rule.vmap);
      if (!set) throw new ExplainError(`rule ${chain.name}#${index} names the missing map ${rule.vmap}`);
      verdict = lookup(set, rule.key, packet)?.to;
    } else if (rule.matches.every((m) => matches(m, packet, sets))) {
      verdict = rule.verdict;
      note = rule.note ?? note;
    }
    if (!verdict) {
      index++;
      continue;
    }
    path.push({ chain: chain.name, rule: index });
    const direction = judging();
    const because = !isVmap(rule) ? rule.because ?? [] : [];
    switch (verdict.verdict) {
      case 'accept':
        if (direction) settle(direction, true, because);
        return finish(true, direction ? '' : note);
      case 'drop':
        if (direction) settle(direction, false, []);
        return finish(false, '');
      case 'return': {
        if (direction) settle(direction, true, because);
        const frame = stack.pop();
        if (!frame) return finish(true, `${chain.name} returned: its policy, ${base.hook!.policy}`);
        chain = frame.chain;
        index = frame.next;
        continue;
      }
      case 'jump':
      case 'goto': {
        const target = chains.get(verdict.chain);
        if (!target) throw new ExplainError(`rule ${chain.name}#${index} names the missing chain ${verdict.chain}`);
        if (verdict.verdict === 'jump') stack.push({ chain, next: index + 1 });
        if (target.role.role === 'class') isolating[target.role.direction] = target.role.policies;
        chain = target;
        index = 0;
        continue;
      }
    }
  }
  throw new ExplainError('the chains loop');

  function finish(allowed: boolean, why: string): Explanation {
    const parts: string[] = [];
    for (const direction of ['egress', 'ingress'] as const) {
      const side = sides[direction];
      if (!side.judged) continue;
      const rules = side.allowedBy.map(ruleRefText).join(', ');
      parts.push(`${direction} ${side.allowed ? `allowed by ${rules || 'an earlier rule'}` : 'denied'} (isolated by ${side.isolatedBy.join(', ')})`);
    }
    const reason = why || parts.join('; ') || 'no policy isolates either end';
    return { allowed, egress: sides.egress, ingress: sides.ingress, reason, path };
  }
}

function matches(m: Match, conn: Connection & { src: IpAddress }, sets: ReadonlyMap<string, SetSpec>): boolean {
  switch (m.match) {
    case 'ct-established': return false; // explain() judges the first packet of a connection
    case 'neighbour-discovery': return false; // ICMPv6 types are not part of a Connection
    case 'lookup': {
      const set = sets.get(m.set);
      if (!set) throw new ExplainError(`a rule names the missing set ${m.set}`);
      return lookup(set, m.key, conn) !== undefined;
    }
  }
}

/**
 * Of the rules a verdict stands for (its ports matched already), those whose own peers hold the
 * other end: a peers chain judges their union, and explain() names the ones that matched.
 */
function matchingRules(compiled: CompiledPolicy, because: readonly RuleRef[], direction: Direction, conn: Connection & { src: IpAddress }): RuleRef[] {
  const peer = direction === 'ingress' ? conn.src : conn.dst;
  return because.filter((ref) => {
    const rule = compiled.rules.get(ruleRefText(ref));
    if (!rule) return false;
    return rule.addresses.has(`${peer.family}:${peer.value}`)
      || rule.blocks.some((b) => rangeContains(b, peer.family, peer.value))
      || rule.named.has(`${peer.family} ${peer.value} ${conn.proto} ${conn.port}`);
  });
}

/** One line for a person: the verdict and why. */
export function formatExplanation(conn: Connection, explanation: Explanation): string {
  const src = conn.src === 'node' ? 'this node' : formatIp(conn.src);
  return `${src} -> ${formatIp(conn.dst)} proto ${conn.proto} port ${conn.port}: ${explanation.allowed ? 'ALLOWED' : 'DENIED'}: ${explanation.reason}`;
}
