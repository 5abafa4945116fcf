// host/prerequisites.ts: forwarding and br_netfilter of each family in use, read when /readyz or
// /metrics asks (not kept from the last sync), against a temp dir standing in for /proc/sys.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { NodePrerequisites, prerequisiteFindings, prerequisiteKeys } from '../../../../daemonset/host/prerequisites.ts';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
import { tempHost } from '../../../fixtures/agent-node.ts';

describe('node prerequisites', () => {
  test('pure: the families in use decide which keys count; each wrong one has its fix', () => {
    const values: Record<string, string> = { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1', 'net.ipv6.conf.all.forwarding': '0' };
    assert.deepEqual(prerequisiteFindings((k) => values[k], [4]), []);
    const dual = prerequisiteFindings((k) => values[k], [4, 6]);
    assert.deepEqual(dual.map((f) => f.setting), ['net.ipv6.conf.all.forwarding', 'net.bridge.bridge-nf-call-ip6tables']);
    assert.equal(dual[0]!.problem, '0: the node does not route IPv6 pod traffic');
    assert.match(dual[1]!.problem, /^absent: br_netfilter is not loaded/);
    assert.deepEqual(prerequisiteKeys([4, 6]), ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding', 'net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables']);
  });

  test('on Open vSwitch br_netfilter is no prerequisite: OVS never passes frames to it', () => {
    const none = (k: string) => (k.includes('forwarding') || k.includes('ip_forward') ? '1' : undefined);
    assert.deepEqual(prerequisiteFindings(none, [4, 6], 'ovs'), []);
    assert.equal(prerequisiteFindings(none, [4, 6]).length, 2, 'the same node on a Linux bridge lacks br_netfilter');
    assert.deepEqual(prerequisiteKeys([4, 6], 'ovs'), ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']);
  });

  test('/readyz detail and the gauge follow the sysctl at the moment they are read, with no sync in between', () => {
    const host = tempHost();
    try {
      const file = path.join(host.procSys, 'net/bridge/bridge-nf-call-iptables');
      fs.writeFileSync(path.join(host.procSys, 'net/ipv4/ip_forward'), '1\n');
      const metrics = new Metrics();
      const prerequisites = new NodePrerequisites({ metrics, families: [4], procSys: host.procSys });
      assert.deepEqual(prerequisites.detail(), []);
      assert.match(metrics.render(), /^bridgeway_node_sysctl_ok\{sysctl="net\.bridge\.bridge-nf-call-iptables"\} 1$/m);
      assert.match(metrics.render(), /^bridgeway_node_sysctl_ok\{sysctl="net\.ipv4\.ip_forward"\} 1$/m);

      fs.writeFileSync(file, '0\n');
      assert.match(metrics.render(), /^bridgeway_node_sysctl_ok\{sysctl="net\.bridge\.bridge-nf-call-iptables"\} 0$/m, 'a scrape reads it then');
      const [line, ...rest] = prerequisites.detail();
      assert.deepEqual(rest, []);
      assert.equal(line, 'node prerequisite net.bridge.bridge-nf-call-iptables: 0: pod-to-pod traffic on this node\'s bridge bypasses iptables: a Service whose client and backend pods share this node gets no answer (and NetworkPolicies miss that traffic)  fix: sysctl -w net.bridge.bridge-nf-call-iptables=1, persisted in /etc/sysctl.d/');

      fs.rmSync(file); // the module unloaded
      assert.match(prerequisites.detail()[0]!, /^node prerequisite net\.bridge\.bridge-nf-call-iptables: absent: br_netfilter is not loaded/);
      fs.writeFileSync(file, '1\n');
      assert.deepEqual(prerequisites.detail(), []);
      assert.match(metrics.render(), /^bridgeway_node_sysctl_ok\{sysctl="net\.bridge\.bridge-nf-call-iptables"\} 1$/m);
    } finally {
      host.cleanup();
    }
  });
});
