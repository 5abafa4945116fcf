// nodes/file-source.ts: the nodes file of standalone mode, YAML or JSON, one or both families.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodesFileError, NodesFileSource, parseNodesFile } from '../../../../daemonset/nodes/file-source.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';
describe('nodes file', () => {
  test('a node without a podCIDR yet is valid (and not routed to)', () => {
    assert.deepEqual(parseNodesFile('nodes: [{name: a, eth1IP: 192.168.50.11}]')[0]!.podCIDRs, []);
  });
  test('YAML and JSON', () => {
    const yaml = 'nodes:\n  - {name: a, podCIDR: 10.244.1.0/24, eth1IP: 192.168.50.11}\n  - name: b\n    podCIDR: 10.244.2.0/24\n    eth1IP: 192.168.50.12\n';
    const nodes = parseNodesFile(yaml);
    assert.deepEqual(nodes[1], { name: 'b', podCIDRs: ['10.244.2.0/24'], internalIPs: [], annotations: { [ETH1_ANNOTATION]: '192.168.50.12' } });
    assert.deepEqual(parseNodesFile(JSON.stringify({ nodes: [{ name: 'a', podCIDR: '10.244.1.0/24', eth1IP: '192.168.50.11' }] })), [nodes[0]]);
  });
  test('dual-stack entries: podCIDRs and eth1IPs, one per family in either order, IPv6 quoted or not', () => {
    const yaml = [
      'nodes:',
      '  - {name: a, podCIDRs: [10.244.1.0/24, fd00:10:244:1::/64], eth1IPs: [192.168.50.11, fd00:50::11]}',
      '  - name: b',
      '    podCIDRs: ["fd00:10:244:2::/64", "10.244.2.0/24"]',
      '    eth1IPs:',
      '      - "fd00:50::12"',
      '      - 192.168.50.12',
      '  - {name: c, podCIDR: fd00:10:244:3::/64, eth1IP: fd00:50::13}',
    ].join('\n');
    const [a, b, c] = parseNodesFile(yaml);
    assert.deepEqual(a, { name: 'a', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], internalIPs: [], annotations: { [ETH1_ANNOTATION]: '192.168.50.11', [ETH1_IPV6_ANNOTATION]: 'fd00:50::11' } });
    assert.deepEqual(b!.annotations, { [ETH1_ANNOTATION]: '192.168.50.12', [ETH1_IPV6_ANNOTATION]: 'fd00:50::12' });
    assert.deepEqual(b!.podCIDRs, ['fd00:10:244:2::/64', '10.244.2.0/24']);
    assert.deepEqual(c, { name: 'c', podCIDRs: ['fd00:10:244:3::/64'], internalIPs: [], annotations: { [ETH1_IPV6_ANNOTATION]: 'fd00:50::13' } });
  });
  for (const [text, message] of [
    ['nodes: [{name: a, podCIDRs: [10.244.1.0/24, 10.244.2.0/24], eth1IPs: [192.168.50.11]}]', /nodes\[0\]\.podCIDRs has two IPv4 CIDRs \(10\.244\.1\.0\/24, 10\.244\.2\.0\/24\): one per family/],
    ['nodes: [{name: a, podCIDRs: [fd00:1::/64, fd00:2::/64], eth1IPs: [fd00:50::1]}]', /nodes\[0\]\.podCIDRs has two IPv6 CIDRs/],
    ['nodes: [{name: a, podCIDRs: [10.244.1.0/24], eth1IPs: [192.168.50.11, 192.168.50.12]}]', /nodes\[0\]\.eth1IPs has two IPv4 addresses/],
    ['nodes: [{name: a, podCIDRs: [10.244.1.0/24, fd00:1::/64], eth1IPs: [192.168.50.11]}]', /nodes\[0\] \(a\) has the IPv6 podCIDR fd00:1::\/64 but no IPv6 address in eth1IPs/],
    ['nodes: [{name: a, podCIDR: fd00:1::/64, eth1IP: 192.168.50.11}]', /has the IPv6 podCIDR fd00:1::\/64 but no IPv6 address/],
    ['nodes: [{name: a, eth1IPs: [192.168.50.11, nope]}]', /nodes\[0\]\.eth1IPs\[1\] must be an IPv4 or IPv6 address, got "nope"/],
    ['nodes: [{name: a, podCIDRs: [10.244.1.0/33], eth1IP: 192.168.50.11}]', /nodes\[0\]\.podCIDRs\[0\] must be a CIDR/],
    ['nodes: [{name: a, podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24], eth1IP: 192.168.50.11}]', /give podCIDR or podCIDRs, not both/],
    ['nodes: [{name: a, podCIDRs: 10.244.1.0/24, eth1IP: 192.168.50.11}]', /podCIDRs must be a list of one or two/],
    ['nodes: [', /not valid YAML/],
    ['peers: []', /top-level "nodes:" list/],
    ['nodes: [{name: a, podCIDR: 10.0.0.0/24}]', /nodes\[0\]\.eth1IP must be a non-empty string/],
    ['nodes: [{name: a, podCIDR: 7, eth1IP: y}]', /nodes\[0\]\.podCIDR must be a string/],
    ['nodes: [{name: a, podCIDR: x, eth1IP: y}, {name: a, podCIDR: x, eth1IP: y}]', /nodes\[0\]\.eth1IP must be an IPv4 or IPv6 address, got "y"/],
    ['nodes: [{name: a, eth1IP: 192.168.50.1}, {name: a, eth1IP: 192.168.50.2}]', /duplicate name a/],
  ] as const) {
    test(`rejects ${text}`, () => assert.throws(() => parseNodesFile(text), (e: unknown) => e instanceof NodesFileError && message.test(e.message)));
  }
});


describe('NodesFileSource', () => {
  test('afterLoad runs once per file parsed, not for an unchanged or rejected file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-nodes-'));
    const file = path.join(dir, 'nodes.yaml');
    const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child() { return log; } };
    let loads = 0;
    try {
      fs.writeFileSync(file, 'nodes: [{name: a, podCIDR: 10.244.1.0/24, eth1IP: 192.168.50.11}]\n');
      const source = new NodesFileSource({ file, log, onChange: () => {}, afterLoad: () => loads++ });
      source.start();
      source.stop();
      assert.equal(source.nodes().length, 1);
      assert.equal(loads, 1, 'parsed once; the second read found the same text');
      fs.writeFileSync(file, 'nodes: [{name: a, podCIDR: nope}]\n');
      source.nodes();
      assert.equal(loads, 1, 'a rejected file is no load');
      fs.writeFileSync(file, 'nodes: []\n');
      assert.deepEqual(source.nodes(), []);
      assert.equal(loads, 2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
