// daemonset/policy/nft-text.ts: the table and its changes as nft spells them. The integration
// test loads this text into a kernel; here its exact form is pinned for one small table.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import { renderChanges, renderRemove, renderReplace, renderTable } from '../../../../daemonset/policy/nft-text.ts';
import { namespace, NODE, pod, policy } from '../../../fixtures/policy-objects.ts';

describe('nft text', () => {
  const compiled = compilePolicies({
    nodeName: NODE,
    namespaces: [namespace('x')],
    pods: [pod('x/a', ['10.0.0.1', 'fd00::1'], { pod: 'a' }), pod('x/b', ['10.0.0.2'], { pod: 'b' }, { node: 'node-2' })],
    policies: [policy('x/p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 80, endPort: 81 }, { port: 53, protocol: 'UDP' }] }] })],
  });
  const [cls] = compiled.table.chains.filter((c) => c.role.role === 'class').map((c) => c.name);
  const [peers] = compiled.table.chains.filter((c) => c.role.role === 'peers').map((c) => c.name);

  test('the whole table', () => {
    assert.equal(renderTable(compiled.table), `table inet bridgeway_policy {
\tset self4 {
\t\ttype ipv4_addr . ipv4_addr
\t\telements = { 10.0.0.1 . 10.0.0.1 }
\t}

\tset self6 {
\t\ttype ipv6_addr . ipv6_addr
\t\telements = { fd00::1 . fd00::1 }
\t}

\tmap from_pod4 {
\t\ttype ipv4_addr : verdict
\t}

\tmap from_pod6 {
\t\ttype ipv6_addr : verdict
\t}

\tmap to_pod4 {
\t\ttype ipv4_addr : verdict
\t\telements = { 10.0.0.1 : jump ${cls} }
\t}

\tmap to_pod6 {
\t\ttype ipv6_addr : verdict
\t\telements = { fd00::1 : jump ${cls} }
\t}

\tset ${peers}_a4 {
\t\ttype ipv4_addr
\t\telements = { 10.0.0.2 }
\t}

\tmap ${cls}_ports {
\t\ttype inet_proto . inet_service : verdict
\t\tflags interval
\t\telements = { tcp . 80-81 : goto ${peers},
\t\t\t     udp . 53 : goto ${peers} }
\t}

\tchain ${peers} {
\t\tip saddr @${peers}_a4 accept
\t\tdrop
\t}

\tchain ${cls} {
\t\tmeta l4proto . th dport vmap @${cls}_ports
\t\tdrop
\t}

\tchain pods_forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tct state established,related accept
\t\tip6 hoplimit 255 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
\t\tip saddr . ip daddr @self4 accept
\t\tip6 saddr . ip6 daddr @self6 accept
\t\tip saddr vmap @from_pod4
\t\tip6 saddr vmap @from_pod6
\t\tip daddr vmap @to_pod4
\t\tip6 daddr vmap @to_pod6
\t}
}
`);
  });
  test('replace and remove are one transaction each, also on a node without the table', () => {
    assert.match(renderReplace(compiled.table), /^add table inet bridgeway_policy\ndelete table inet bridgeway_policy\ntable inet bridgeway_policy \{\n/);
    assert.equal(renderRemove(compiled.table), 'add table inet bridgeway_policy\ndelete table inet bridgeway_policy\n');
  });
  test('every kind of change', () => {
    const where = compiled.table;
    const set = compiled.table.sets.find((s) => s.name === `${peers}_a4`)!;
    const chain = compiled.table.chains.find((c) => c.name === peers)!;
    assert.equal(renderChanges(where, [
      { op: 'add-chain', chain: 'c1' },
      { op: 'add-set', set: { name: 's1', key: ['ip saddr'], interval: true, verdictMap: false } },
      { op: 'add-set', set: { name: 'm1', key: ['meta l4proto', 'th dport'], interval: true, verdictMap: true } },
      { op: 'replace-rules', chain },
      { op: 'delete-elements', set: set.name, elements: set.elements },
      { op: 'add-elements', set: 's1', elements: [{ key: [{ range: { family: 4, first: 167772160n, last: 167772415n } }] }] },
      { op: 'flush-chain', chain: 'c1' },
      { op: 'delete-set', set: 'm1', verdictMap: true },
      { op: 'delete-chain', chain: 'c1' },
    ]), [
      'add chain inet bridgeway_policy c1',
      'add set inet bridgeway_policy s1 { type ipv4_addr; flags interval; }',
      'add map inet bridgeway_policy m1 { type inet_proto . inet_service : verdict; flags interval; }',
      `flush chain inet bridgeway_policy ${peers}`,
      `add rule inet bridgeway_policy ${peers} ip saddr @${peers}_a4 accept`,
      `add rule inet bridgeway_policy ${peers} drop`,
      `delete element inet bridgeway_policy ${peers}_a4 { 10.0.0.2 }`,
      'add element inet bridgeway_policy s1 { 10.0.0.0/24 }',
      'flush chain inet bridgeway_policy c1',
      'delete map inet bridgeway_policy m1',
      'delete chain inet bridgeway_policy c1',
      '',
    ].join('\n'));
    assert.equal(renderChanges(where, []), '');
  });
});
