// daemonset/policy/conntrack-cut.ts: which established connections a new table denies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp, type IpAddress } from '../../../../lib/cidr.ts';
import type { ConntrackEntry } from '../../../../lib/netlink/conntrack.ts';
import { compilePolicies } from '../../../../daemonset/policy/compile.ts';
import { deniedEntries } from '../../../../daemonset/policy/conntrack-cut.ts';
import { NODE, namespace, pod, policy } from '../../../fixtures/policy-objects.ts';

const ip = (text: string): IpAddress => parseIp(text)!;
const key = (text: string) => { const a = ip(text); return `${a.family}:${a.value}`; };
/** A TCP entry from src to dst:port, optionally DNATed (the original destination a Service). */
function entry(src: string, dst: string, port: number, via?: string): ConntrackEntry {
  return {
    orig: { src: ip(src), dst: ip(via ?? dst), proto: 6, sport: 40000, dport: via ? 80 : port },
    reply: { src: ip(dst), dst: ip(src), proto: 6, sport: port, dport: 40000 },
    key: { family: 2, orig: new Uint8Array() },
  };
}

const input = {
  nodeName: NODE,
  namespaces: [namespace('x'), namespace('y')],
  pods: [
    pod('x/a', ['10.244.1.2'], { app: 'a' }),
    pod('x/b', ['10.244.2.3'], { app: 'b' }, { node: 'node-2' }),
    pod('y/c', ['10.244.1.4'], { app: 'c' }),
  ],
  // x/a admits x/b on 80 only.
  policies: [policy('x/a-from-b', { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port: 80 }] }] })],
};
const pods = new Set(['10.244.1.2', '10.244.2.3', '10.244.1.4'].map(key));

test('the entries the table denies, judged by where the connection really went; the rest left', () => {
  const { table } = compilePolicies(input);
  const entries = [
    entry('10.244.2.3', '10.244.1.2', 80), // allowed
    entry('10.244.2.3', '10.244.1.2', 81), // denied: port
    entry('10.244.1.4', '10.244.1.2', 80), // denied: peer
    entry('10.244.1.4', '10.244.1.2', 80, '10.96.0.10'), // denied after DNAT to x/a
    entry('10.244.2.3', '10.244.1.2', 80, '10.96.0.10'), // allowed after DNAT
    entry('192.168.50.10', '10.244.1.2', 81), // the node's own (or an outside) source: never cut
    entry('10.244.1.4', '10.244.2.3', 443), // neither end isolated here: not judged
  ];
  const cut = deniedEntries(table, entries, pods);
  assert.deepEqual(cut, [entries[1], entries[2], entries[3]]);
});

test('with the node\'s addresses: what the forward hook judged is judged, an outside source too; what the node opened or ends at the node is left', () => {
  const node = new Set(['192.168.50.10', '10.244.1.1'].map(key));
  const egressDenied = policy('x/a-no-egress', { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Egress'] });
  const { table } = compilePolicies({ ...input, policies: [...input.policies, egressDenied] });
  const entries = [
    entry('203.0.113.7', '10.244.1.2', 81), // from outside the cluster: no ipBlock admits it: cut
    entry('192.168.50.10', '10.244.1.2', 81), // the node's own (kubelet's probe): the output hook, left
    entry('10.244.1.2', '192.168.50.10', 10250), // x/a to its node: the input hook, left
    entry('10.244.1.2', '10.244.1.1', 53), // x/a to the bridge's address: the input hook, left
    entry('10.244.1.4', '192.168.50.10', 8080, '10.96.0.20'), // a Service with a hostNetwork backend here: left
    entry('10.244.1.2', '10.244.1.4', 80), // x/a egress to y/c: denied, cut
  ];
  assert.deepEqual(deniedEntries(table, entries, pods, node), [entries[0], entries[5]]);
  assert.deepEqual(deniedEntries(table, entries, pods), [entries[2], entries[3], entries[5]], 'without them, a pod\'s connections only, the node\'s ones judged like any peer\'s');
});

test('no isolated pod on this node: nothing to judge', () => {
  const { table } = compilePolicies({ ...input, policies: [] });
  assert.deepEqual(deniedEntries(table, [entry('10.244.1.4', '10.244.1.2', 80)], pods), []);
});
