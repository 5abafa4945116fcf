// daemonset/policy/compile.ts (with resolve.ts): one policy (or a few) in, this node's table out,
// read through sideView() the way a packet walks it: which pods each direction isolates, by
// which policies, and for each port range the peers' elements. Every field of the v1 API.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import type { NetworkPolicy } from '../../../../daemonset/policy/model.ts';
import { elementText, renderTable } from '../../../../daemonset/policy/nft-text.ts';
import { BASE } from '../../../../daemonset/policy/table.ts';
import { POLICY_TABLE } from '../../../../lib/names.ts';
import { namespace, NODE, pod, policy, sideView } from '../../../fixtures/policy-objects.ts';

const namespaces = [namespace('x', { team: 'a' }), namespace('y', { team: 'b' }), namespace('z')];
const pods = [
  pod('x/a', ['10.0.0.1', 'fd00::1'], { pod: 'a' }, { ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 5353, protocol: 'UDP' }] }),
  pod('x/b', ['10.0.0.2'], { pod: 'b' }),
  pod('y/a', ['10.0.0.3'], { pod: 'a' }),
  pod('y/b', ['10.0.1.4'], { pod: 'b' }, { node: 'node-2', ports: [{ name: 'http', containerPort: 9090 }] }),
  pod('z/c', ['10.0.1.5', 'fd00::15'], { pod: 'c' }, { node: 'node-2' }),
  // Never judged, never a peer: its address is the node's; and a finished pod's may be reused.
  pod('x/host', ['192.168.0.10'], { pod: 'a' }, { hostNetwork: true, ports: [{ name: 'http', containerPort: 80 }] }),
  pod('x/done', ['10.0.0.9'], { pod: 'a' }, { phase: 'Succeeded' }),
];
const compile = (...policies: NetworkPolicy[]) => compilePolicies({ pods, namespaces, policies, nodeName: NODE });
const ingress = (c: ReturnType<typeof compile>, ip: string) => sideView(c.table, 'ingress', ip);
const egress = (c: ReturnType<typeof compile>, ip: string) => sideView(c.table, 'egress', ip);
const denyAll = { policies: [], ports: {}, otherwise: 'drop', named: [] } as const;
const selectA = { matchLabels: { pod: 'a' } };

describe('isolation: which of this node\'s pods a policy selects, for which directions', () => {
  test('no policy: nothing isolated, and the table is the fixed frame alone', () => {
    const c = compile();
    assert.equal(c.table.name, POLICY_TABLE);
    assert.equal(c.table.family, 'inet');
    for (const ip of ['10.0.0.1', '10.0.0.2', 'fd00::1']) assert.equal(ingress(c, ip), undefined);
    assert.deepEqual(c.table.chains.map((ch) => ch.name), [BASE.chain]);
    assert.deepEqual(c.stats.isolatedPods, { ingress: 0, egress: 0 });
  });
  test('default deny ingress (podSelector {}): every pod of its namespace on this node, both families; nothing allowed', () => {
    const c = compile(policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    assert.deepEqual(ingress(c, '10.0.0.1'), { ...denyAll, policies: ['x/deny'] });
    assert.deepEqual(ingress(c, 'fd00::1'), { ...denyAll, policies: ['x/deny'] });
    assert.deepEqual(ingress(c, '10.0.0.2'), { ...denyAll, policies: ['x/deny'] });
    assert.equal(ingress(c, '10.0.0.3'), undefined, 'another namespace');
    assert.equal(egress(c, '10.0.0.1'), undefined, 'egress not isolated');
    assert.equal(ingress(c, '192.168.0.10'), undefined, 'hostNetwork pods are never judged');
    assert.equal(ingress(c, '10.0.0.9'), undefined, 'finished pods are left out');
    // Pods with the same policies share one class chain: its cost does not grow with pods.
    const to4 = c.table.sets.find((s) => s.name === BASE.to[4])!;
    assert.deepEqual(to4.elements.map(elementText), [`10.0.0.1 : jump ${to4.elements[0]!.to!.chain}`, `10.0.0.2 : jump ${to4.elements[0]!.to!.chain}`]);
  });
  test('podSelector with matchLabels selects only matching pods; pods on other nodes are judged there', () => {
    const c = compile(policy('x/p', { podSelector: selectA }), policy('y/p', { podSelector: { matchLabels: { pod: 'b' } } }));
    assert.deepEqual(ingress(c, '10.0.0.1')?.policies, ['x/p']);
    assert.equal(ingress(c, '10.0.0.2'), undefined);
    assert.equal(c.table.sets.find((s) => s.name === BASE.to[4])!.elements.length, 1, 'y/b (node-2) is not in this node\'s table');
  });
  test('policyTypes absent: Ingress, plus Egress only when spec.egress has a rule', () => {
    const none = compile(policy('x/p', { podSelector: selectA, egress: [] }));
    assert.ok(ingress(none, '10.0.0.1'));
    assert.equal(egress(none, '10.0.0.1'), undefined, 'egress: [] is no egress rule');
    const withEgress = compile(policy('x/p', { podSelector: selectA, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] }));
    assert.ok(ingress(withEgress, '10.0.0.1'), 'ingress is always among the defaults');
    assert.deepEqual(egress(withEgress, '10.0.0.1')?.ports, { 'udp . 53': { rules: ['x/p egress[0]'], peers: ['*'] } });
  });
  test('policyTypes [Egress]: its ingress rules are ignored and ingress stays open', () => {
    const c = compile(policy('x/p', { podSelector: selectA, policyTypes: ['Egress'], ingress: [{}] }));
    assert.equal(ingress(c, '10.0.0.1'), undefined);
    assert.deepEqual(egress(c, '10.0.0.1'), { ...denyAll, policies: ['x/p'] }, 'default deny egress');
  });
  test('policyTypes [Ingress, Egress] without rules: both directions denied', () => {
    const c = compile(policy('x/p', { podSelector: selectA, policyTypes: ['Ingress', 'Egress'] }));
    assert.deepEqual(ingress(c, '10.0.0.1'), { ...denyAll, policies: ['x/p'] });
    assert.deepEqual(egress(c, 'fd00::1'), { ...denyAll, policies: ['x/p'] });
  });
  test('a pod\'s own traffic to itself: every local pod address in the self sets, once', () => {
    const c = compilePolicies({ pods: [...pods, pod('x/stale', ['10.0.0.2'], { pod: 'b' })], namespaces, policies: [policy('x/deny', { podSelector: {} })], nodeName: NODE });
    assert.deepEqual(c.table.sets.find((s) => s.name === BASE.to[4])!.elements.map((e) => elementText({ key: e.key })), ['10.0.0.1', '10.0.0.2'], 'and in the maps once');
    assert.deepEqual(c.table.sets.find((s) => s.name === BASE.self[4])!.elements.map(elementText), ['10.0.0.1 . 10.0.0.1', '10.0.0.2 . 10.0.0.2', '10.0.0.3 . 10.0.0.3']);
    assert.deepEqual(c.table.sets.find((s) => s.name === BASE.self[6])!.elements.map(elementText), ['fd00::1 . fd00::1']);
  });
});

describe('peers', () => {
  const from = (peers: NonNullable<NetworkPolicy['spec']['ingress']>[number]['from']) => {
    const otherwise = ingress(compile(policy('x/p', { podSelector: selectA, ingress: [{ from: peers! }] })), '10.0.0.1')!.otherwise;
    assert.notEqual(otherwise, 'drop');
    return otherwise as Exclude<typeof otherwise, 'drop'>;
  };
  test('podSelector alone: pods of the policy\'s namespace, on any node', () => {
    assert.deepEqual(from([{ podSelector: { matchLabels: { pod: 'b' } } }]), { rules: ['x/p ingress[0]'], peers: ['10.0.0.2'] });
    assert.deepEqual(from([{ podSelector: {} }]), { rules: ['x/p ingress[0]'], peers: ['10.0.0.1', '10.0.0.2', 'fd00::1'] });
  });
  test('namespaceSelector alone: every pod of the matching namespaces', () => {
    assert.deepEqual(from([{ namespaceSelector: { matchLabels: { team: 'b' } } }]), { rules: ['x/p ingress[0]'], peers: ['10.0.0.3', '10.0.1.4'] });
    assert.deepEqual(from([{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] } }]).peers, ['10.0.0.3', '10.0.1.4', '10.0.1.5', 'fd00::15']);
    assert.deepEqual(from([{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] } }]).peers, ['10.0.1.5', 'fd00::15']);
    assert.deepEqual(from([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }]).peers, ['10.0.1.5', 'fd00::15']);
  });
  test('both in one peer: the matching pods of the matching namespaces (AND, not OR)', () => {
    assert.deepEqual(from([{ namespaceSelector: {}, podSelector: selectA }]).peers, ['10.0.0.1', '10.0.0.3', 'fd00::1']);
    assert.deepEqual(from([{ namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] } }]).peers, ['10.0.1.4']);
    assert.deepEqual(from([{ namespaceSelector: { matchLabels: { team: 'b' } } }, { podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] } }]).peers,
      ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.4', 'fd00::1'], 'two peers: OR');
  });
  test('no peers (from absent or []): every address, pods or not', () => {
    const absent = ingress(compile(policy('x/p', { podSelector: selectA, ingress: [{}] })), '10.0.0.1')!;
    assert.deepEqual(absent.otherwise, { rules: ['x/p ingress[0]'], peers: ['*'] });
    assert.deepEqual(from([]), { rules: ['x/p ingress[0]'], peers: ['*'] });
  });
  test('ipBlock with except: the CIDR minus the holes; pods inside a block need no element of their own', () => {
    assert.deepEqual(from([{ ipBlock: { cidr: '10.10.0.0/16', except: ['10.10.1.0/24', '10.10.3.0/24'] } }]).peers, ['10.10.0.0/24', '10.10.2.0/24', '10.10.4.0-10.10.255.255']);
    assert.deepEqual(from([{ ipBlock: { cidr: 'fd00:aa::/32', except: ['fd00:aa::/33'] } }]).peers, ['fd00:aa:8000::/33']);
    assert.deepEqual(from([{ ipBlock: { cidr: '10.0.0.0/24' } }, { podSelector: {} }]).peers, ['10.0.0.0/24', 'fd00::1']);
    assert.deepEqual(from([{ ipBlock: { cidr: '10.0.0.2/32' } }]).peers, ['10.0.0.2']);
  });
  test('a selector matching no pod allows nothing (and is no error)', () => {
    assert.deepEqual(from([{ podSelector: { matchLabels: { pod: 'nobody' } } }]), { rules: ['x/p ingress[0]'], peers: [] });
  });
});

describe('ports', () => {
  const ports = (list: NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports'], ip = '10.0.0.1') => {
    const view = ingress(compile(policy('x/p', { podSelector: {}, ingress: [{ ports: list! }] })), ip)!;
    return { ports: Object.keys(view.ports), otherwise: view.otherwise };
  };
  test('by number, TCP when no protocol; UDP; SCTP; no port = the whole protocol; endPort = a range', () => {
    assert.deepEqual(ports([{ port: 80 }]), { ports: ['tcp . 80'], otherwise: 'drop' });
    assert.deepEqual(ports([{ port: 53, protocol: 'UDP' }, { port: 53 }]).ports, ['tcp . 53', 'udp . 53']);
    assert.deepEqual(ports([{ port: 9000, protocol: 'SCTP' }]).ports, ['sctp . 9000']);
    assert.deepEqual(ports([{ protocol: 'UDP' }]).ports, ['udp . 0-65535']);
    assert.deepEqual(ports([{ port: 8000, endPort: 8010 }]).ports, ['tcp . 8000-8010']);
    assert.deepEqual(ports([{ port: 8000, endPort: 8000 }]).ports, ['tcp . 8000']);
  });
  test('ports [] is every port of every protocol, as absent', () => {
    assert.deepEqual(ports([]), { ports: [], otherwise: { rules: ['x/p ingress[0]'], peers: ['*'] } });
  });
  test('a named port resolves on each target pod, by name and protocol: pods differ, so do their classes', () => {
    assert.deepEqual(ports([{ port: 'http' }]).ports, ['tcp . 8080']);
    assert.deepEqual(ports([{ port: 'http' }], '10.0.0.2'), { ports: [], otherwise: 'drop' }, 'x/b has no port named http');
    assert.deepEqual(ports([{ port: 'dns' }]).ports, [], 'dns is UDP on x/a; the rule asks TCP');
    assert.deepEqual(ports([{ port: 'dns', protocol: 'UDP' }, { port: 'http' }, { port: 80 }]).ports, ['tcp . 80', 'tcp . 8080', 'udp . 5353']);
    const c = compile(policy('x/p', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }] }] }));
    const to4 = c.table.sets.find((s) => s.name === BASE.to[4])!;
    assert.notEqual(to4.elements[0]!.to!.chain, to4.elements[1]!.to!.chain);
  });
});

describe('several rules and policies add up', () => {
  test('overlapping ports: each fragment allows the union of the peers of the rules covering it', () => {
    const c = compile(
      policy('x/p1', { podSelector: selectA, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80 }] }] }),
      policy('x/p2', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }], ports: [{ port: 80, endPort: 81 }] }] }),
    );
    assert.deepEqual(ingress(c, '10.0.0.1'), {
      policies: ['x/p1', 'x/p2'],
      ports: {
        'tcp . 80': { rules: ['x/p1 ingress[0]', 'x/p2 ingress[0]'], peers: ['10.0.0.2', '10.0.0.3', '10.0.1.4'] },
        'tcp . 81': { rules: ['x/p2 ingress[0]'], peers: ['10.0.0.3', '10.0.1.4'] },
      },
      otherwise: 'drop',
      named: [],
    });
    assert.deepEqual(ingress(c, '10.0.0.2')?.policies, ['x/p2'], 'x/b is selected by p2 alone');
  });
  test('a rule without ports joins every fragment and decides every other port', () => {
    const c = compile(policy('x/p', { podSelector: selectA, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }, { from: [{ ipBlock: { cidr: '10.9.0.0/16' } }], ports: [{ port: 443 }] }] }));
    assert.deepEqual(ingress(c, '10.0.0.1'), {
      policies: ['x/p'],
      ports: { 'tcp . 443': { rules: ['x/p ingress[0]', 'x/p ingress[1]'], peers: ['10.0.0.2', '10.9.0.0/16'] } },
      otherwise: { rules: ['x/p ingress[0]'], peers: ['10.0.0.2'] },
      named: [],
    });
  });
  test('an allow-nothing policy next to an allowing one changes nothing but the isolating list', () => {
    const c = compile(policy('x/deny', { podSelector: {} }), policy('x/web', { podSelector: selectA, ingress: [{ ports: [{ port: 80 }] }] }));
    assert.deepEqual(ingress(c, '10.0.0.1'), { policies: ['x/deny', 'x/web'], ports: { 'tcp . 80': { rules: ['x/web ingress[0]'], peers: ['*'] } }, otherwise: 'drop', named: [] });
  });
});

describe('egress', () => {
  test('numeric ports with peers: the destination is looked up; both families', () => {
    const c = compile(policy('x/p', { podSelector: selectA, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }], ports: [{ port: 80 }] }] }));
    assert.deepEqual(egress(c, '10.0.0.1'), { policies: ['x/p'], ports: { 'tcp . 80': { rules: ['x/p egress[0]'], peers: ['10.0.1.5', 'fd00::15'] } }, otherwise: 'drop', named: [] });
    assert.deepEqual(egress(c, 'fd00::1'), egress(c, '10.0.0.1'));
    const ek = c.table.chains.find((ch) => ch.role.role === 'peers')!;
    assert.match(renderTable(c.table), new RegExp(`chain ${ek.name} \\{\\n\\t\\tip daddr @${ek.name}_a4 return\\n\\t\\tip6 daddr @${ek.name}_a6 return\\n\\t\\tdrop`), 'egress allows by return: ingress still judges the packet');
  });
  test('named ports resolve on each destination pod; through an ipBlock only the pods inside it', () => {
    const c = compile(policy('x/p', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [
      { to: [{ namespaceSelector: {} }], ports: [{ port: 'http' }] },
      { to: [{ ipBlock: { cidr: '10.0.1.0/24' } }], ports: [{ port: 'http' }, { port: 22 }] },
    ] }));
    assert.deepEqual(egress(c, '10.0.0.2'), {
      policies: ['x/p'],
      ports: { 'tcp . 22': { rules: ['x/p egress[1]'], peers: ['10.0.1.0/24'] } },
      otherwise: 'drop',
      named: ['10.0.0.1 . tcp . 8080', '10.0.1.4 . tcp . 9090', 'fd00::1 . tcp . 8080'],
    });
    const onlyBlock = compile(policy('x/p', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.0.1.0/24' } }], ports: [{ port: 'http' }] }] }));
    assert.deepEqual(egress(onlyBlock, '10.0.0.2')?.named, ['10.0.1.4 . tcp . 9090']);
    const anywhere = compile(policy('x/p', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'http' }] }] }));
    assert.deepEqual(egress(anywhere, '10.0.0.2')?.named, ['10.0.0.1 . tcp . 8080', '10.0.1.4 . tcp . 9090', 'fd00::1 . tcp . 8080'], 'no `to`: every pod serving the name; never the hostNetwork pod');
  });
});

describe('policies that cannot be compiled fail closed and are named', () => {
  const bad: [string, NetworkPolicy['spec'], RegExp][] = [
    ['a selector the API would refuse', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }] }] }, /ingress\[0\]: podSelector: matchExpressions key "a": operator In needs at least one value/],
    ['a CIDR that is none', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] }, /ipBlock cidr "10\.0\.0\.0\/33" is not a CIDR/],
    ['an except outside its CIDR', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.0.1.0/28'] } }] }] }, /except 10\.0\.1\.0\/28 is not a strict subset of 10\.0\.0\.0\/24/],
    ['an except equal to its CIDR', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.0.0.0/24'] } }] }] }, /not a strict subset/],
    ['ipBlock with a selector', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24' }, podSelector: {} }] }] }, /a peer with ipBlock can have no podSelector/],
    ['an empty peer', { podSelector: {}, ingress: [{ from: [{}] }] }, /a peer needs podSelector, namespaceSelector or ipBlock/],
    ['endPort without a port', { podSelector: {}, ingress: [{ ports: [{ endPort: 90 }] }] }, /endPort needs a numeric port/],
    ['endPort below port', { podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }, /endPort 80 is not in 90-65535/],
    ['endPort with a named port', { podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 80 }] }] }, /endPort cannot be used with the named port "http"/],
    ['port 0', { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] }, /port 0 is not in 1-65535/],
    ['a port name that is none', { podSelector: {}, ingress: [{ ports: [{ port: 'Not_A-Name' }] }] }, /port "Not_A-Name" is neither a number nor a port name/],
    ['an unknown protocol', { podSelector: {}, egress: [{ ports: [{ protocol: 'ICMP' as 'TCP' }] }] }, /egress\[0\]: unknown protocol "ICMP"/],
  ];
  for (const [name, spec, message] of bad) {
    test(name, () => {
      const c = compile(policy('x/bad', spec));
      assert.equal(c.errors.length, 1);
      assert.equal(c.errors[0]!.policy, 'x/bad');
      assert.match(c.errors[0]!.message, message);
      assert.deepEqual(ingress(c, '10.0.0.1'), { ...denyAll, policies: ['x/bad'] }, 'still isolates, allows nothing');
    });
  }
  test('a wrong podSelector isolates the whole namespace; a wrong policyType both directions', () => {
    const c = compile(policy('x/bad', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists', values: ['a'] }] } }));
    assert.match(c.errors[0]!.message, /spec\.podSelector: .*Exists takes no values/);
    assert.ok(ingress(c, '10.0.0.1') && ingress(c, '10.0.0.2'));
    const types = compile(policy('x/bad', { podSelector: selectA, policyTypes: ['Sideways' as 'Ingress'] }));
    assert.match(types.errors[0]!.message, /unknown policyType "Sideways"/);
    assert.ok(ingress(types, '10.0.0.1') && egress(types, '10.0.0.1'));
    assert.equal(ingress(types, '10.0.0.2'), undefined);
  });
  test('one bad policy leaves the others compiled', () => {
    const c = compile(policy('x/bad', { podSelector: {}, ingress: [{ from: [{}] }] }), policy('x/web', { podSelector: selectA, ingress: [{ ports: [{ port: 80 }] }] }));
    assert.deepEqual(Object.keys(ingress(c, '10.0.0.1')!.ports), ['tcp . 80']);
    assert.equal(c.errors.length, 1);
  });
});

describe('names stand for meaning, so a change keeps them', () => {
  test('the same input compiles to the same table; another pod of the same class changes elements only', () => {
    const p = policy('x/p', { podSelector: selectA, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 80 }] }] });
    const one = compilePolicies({ pods, namespaces, policies: [p], nodeName: NODE });
    assert.deepEqual(compilePolicies({ pods, namespaces, policies: [p], nodeName: NODE }), one);
    const more = compilePolicies({ pods: [...pods, pod('x/a2', ['10.0.0.7'], { pod: 'a' })], namespaces, policies: [p], nodeName: NODE });
    assert.deepEqual(more.table.chains, one.table.chains);
    assert.deepEqual(more.table.sets.map((s) => s.name), one.table.sets.map((s) => s.name));
  });
});
