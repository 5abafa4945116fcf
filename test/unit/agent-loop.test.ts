import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr } from '../../lib/cidr.ts';
import { ConfigError, helpText, parseAgentConfig } from '../../daemonset/config.ts';
import { Metrics } from '../../daemonset/serve/metrics.ts';
import { NodesFileError, parseNodesFile } from '../../daemonset/nodes/file-source.ts';
import { SyncScheduler } from '../../daemonset/loop/scheduler.ts';
import { FakeClock } from '../fixtures/fake-clock.ts';
import { ETH1_ANNOTATION, ETH1_IPV6_ANNOTATION } from '../../lib/names.ts';

describe('SyncScheduler', () => {
  test('syncs at start, then every resync period', async () => {
    const clock = new FakeClock();
    let syncs = 0;
    const s = new SyncScheduler({ clock, resyncMs: 1000, sync: async () => void syncs++ });
    s.start();
    await clock.advance(0);
    assert.equal(syncs, 1);
    await clock.advance(2500);
    assert.equal(syncs, 3);
    s.stop();
    await clock.advance(5000);
    assert.equal(syncs, 3, 'nothing after stop');
  });

  test('a burst of triggers during a sync collapses into exactly one more sync', async () => {
    const clock = new FakeClock();
    let syncs = 0;
    let release!: () => void;
    const s = new SyncScheduler({ clock, resyncMs: 60_000, sync: () => (syncs++, new Promise<void>((r) => (release = r))) });
    s.start();
    await clock.advance(0);
    for (let i = 0; i < 100; i++) s.trigger();
    release();
    await s.idle;
    await clock.advance(0);
    assert.equal(syncs, 2);
    release();
    await s.idle;
    assert.deepEqual(clock.pending(), [60_000], 'back to the periodic resync');
    s.stop();
  });

  test('failures back off exponentially up to the cap; triggers do not bypass the backoff; success resets', async () => {
    const clock = new FakeClock();
    let fail = true;
    const attempts: number[] = [];
    const errors: number[] = [];
    const s = new SyncScheduler({
      clock, resyncMs: 10_000, backoff: { initialMs: 100, maxMs: 800 },
      sync: async () => {
        attempts.push(clock.now());
        if (fail) throw new Error('apiserver down');
      },
      onError: (_e, _n, retry) => errors.push(retry),
    });
    s.start();
    await clock.advance(0);
    s.trigger();
    await clock.advance(0);
    assert.equal(attempts.length, 1, 'a trigger during backoff waits');
    await clock.advance(3000);
    assert.deepEqual(errors.slice(0, 6), [100, 200, 400, 800, 800, 800]);
    fail = false;
    await clock.advance(clock.pending()[0]!);
    const after = attempts.length;
    assert.deepEqual(clock.pending(), [10_000], 'success returns to the resync period');
    s.trigger();
    await clock.advance(0);
    assert.equal(attempts.length, after + 1, 'and triggers act at once again');
    s.stop();
  });
});

describe('agent config', () => {
  const env = { NODE_NAME: 'n1', BRIDGEWAY_CLUSTER_CIDR: '10.244.0.0/16' };
  test('defaults, environment, flags over environment', () => {
    const c = parseAgentConfig([], env, '/usr/local/bin/bridgeway-agent')!;
    assert.equal(c.nodeName, 'n1');
    assert.equal(c.iface, 'eth1');
    assert.equal(c.cniBinDir, '/opt/cni/bin');
    assert.equal(c.cniConfDir, '/etc/cni/net.d');
    assert.equal(c.pluginBinary, '/usr/local/bin/bridgeway');
    assert.equal(c.resyncMs, 30_000);
    assert.deepEqual(c.health, { host: '0.0.0.0', port: 9099 });
    const f = parseAgentConfig(['--node-name', 'n2', '--resync', '500ms', '--iface-cidr', '192.168.50.0/24', '--iptables', 'legacy'], env, '/x')!;
    assert.equal(f.nodeName, 'n2');
    assert.equal(f.resyncMs, 500);
    assert.equal(f.iptables, 'legacy');
    assert.equal(parseAgentConfig(['uninstall'], {}, '/x')!.command, 'uninstall');
    assert.equal(parseAgentConfig(['--help'], {}, '/x'), undefined);
  });
  test('--cluster-cidr: <v4>, <v6> or both, in either order; kept IPv4 first as network addresses', () => {
    const cidrs = (text: string) => parseAgentConfig(['--cluster-cidr', text], { NODE_NAME: 'n' }, '/x')!.clusterCIDRs.map(formatCidr);
    assert.deepEqual(cidrs('10.244.0.0/16'), ['10.244.0.0/16']);
    assert.deepEqual(cidrs('fd00:10:244::/56'), ['fd00:10:244::/56']);
    assert.deepEqual(cidrs('10.244.0.0/16,fd00:10:244::/56'), ['10.244.0.0/16', 'fd00:10:244::/56']);
    assert.deepEqual(cidrs('FD00:10:244:0::1/56, 10.244.3.4/16'), ['10.244.0.0/16', 'fd00:10:244::/56']);
  });
  const bad: [string[], Record<string, string>, RegExp][] = [
    [[], { BRIDGEWAY_CLUSTER_CIDR: '10.244.0.0/16' }, /--node-name \(or \$NODE_NAME\) is required/],
    [[], { NODE_NAME: 'n' }, /--cluster-cidr .* is required/],
    [['--cluster-cidr', '10.244.0.0'], { NODE_NAME: 'n' }, /--cluster-cidr must be <v4>, <v6> or <v4>,<v6> CIDRs .*"10.244.0.0" is not a CIDR/],
    [['--cluster-cidr', '10.244.0.0/16,10.245.0.0/16'], { NODE_NAME: 'n' }, /--cluster-cidr has two IPv4 CIDRs \(10.244.0.0\/16, 10.245.0.0\/16\): give at most one per family/],
    [['--cluster-cidr', 'fd00::/48,fd01::/48'], { NODE_NAME: 'n' }, /--cluster-cidr has two IPv6 CIDRs/],
    [['--cluster-cidr', '10.244.0.0/16,'], { NODE_NAME: 'n' }, /"" is not a CIDR/],
    [['--resync', 'often'], env, /--resync must be a duration/],
    [['--health-addr', 'nope'], env, /--health-addr must be host:port/],
    [['--log-level', 'chatty'], env, /--log-level must be one of/],
    [['--iptables', 'ebpf'], env, /--iptables must be auto, nft or legacy/],
    [['--cni-version', '2.0.0'], env, /--cni-version must be one of/],
    [['--bogus'], env, /Unknown option '--bogus'.*see --help/],
    [['frobnicate'], env, /unknown command "frobnicate"/],
  ];
  for (const [argv, e, message] of bad) {
    test(`rejects ${argv.join(' ') || JSON.stringify(e)}`, () => {
      assert.throws(() => parseAgentConfig(argv, e, '/x'), (err: unknown) => err instanceof ConfigError && message.test(err.message));
    });
  }
  test('--cni-version has no default: unset is left to the runtime (or standalone 1.0.0); set, it is kept', () => {
    assert.equal(parseAgentConfig([], env, '/x')!.cniVersion, undefined);
    assert.equal(parseAgentConfig([], { ...env, BRIDGEWAY_CNI_VERSION: '' }, '/x')!.cniVersion, undefined, 'an empty ConfigMap value is unset');
    assert.equal(parseAgentConfig([], { ...env, BRIDGEWAY_CNI_VERSION: '1.0.0' }, '/x')!.cniVersion, '1.0.0');
    assert.equal(parseAgentConfig(['--cni-version', '1.1.0'], env, '/x')!.cniVersion, '1.1.0');
  });
  test('--help lists every flag with its environment variable', () => {
    const help = helpText();
    for (const flag of ['node-name', 'kubeconfig', 'nodes-file', 'iface', 'cluster-cidr', 'cni-bin-dir', 'cni-conf-dir', 'health-addr', 'resync', 'log-level']) {
      assert.match(help, new RegExp(`--${flag}\\b`));
    }
    assert.match(help, /\$NODE_NAME/);
    assert.match(help, /uninstall/);
  });
});

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

test('metrics render in the Prometheus text format', () => {
  const m = new Metrics();
  m.counter('x_total', 'X.').inc({ result: 'ok' });
  m.counter('x_total', 'X.').inc({ result: 'ok' }, 2);
  m.gauge('y', 'Y.').set(1.5);
  assert.equal(m.render(), '# HELP x_total X.\n# TYPE x_total counter\nx_total{result="ok"} 3\n# HELP y Y.\n# TYPE y gauge\ny 1.5\n');
});
