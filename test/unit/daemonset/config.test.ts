// daemonset/config.ts: the agent's flags and environment, for run and for doctor.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr } from '../../../lib/cidr.ts';
import { ConfigError, helpText, parseAgentConfig } from '../../../daemonset/config.ts';

const base = ['--node-name', 'n', '--cluster-cidr', '10.244.0.0/16'];

describe('agent config', () => {
  const env = { NODE_NAME: 'n1', BRIDGEWAY_CLUSTER_CIDR: '10.244.0.0/16' };
  test('defaults, environment, flags over environment', () => {
    // The agent's real path (the image's bridgeway-agent symlink resolved): the plugin is the same file.
    const c = parseAgentConfig([], env, '/usr/local/bin/bridgeway')!;
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
    assert.equal(parseAgentConfig(['uninstall'], {}, '/x')!.serve, false);
    assert.equal(parseAgentConfig(['uninstall', '--serve'], { NODE_NAME: 'n' }, '/x')!.serve, true);
    assert.equal(parseAgentConfig(['--help'], {}, '/x'), undefined);
  });
  test('--bridge-type ovs: the database socket and the datapath; linux by default, bad values named', () => {
    const linux = parseAgentConfig(base, {}, '/x')!;
    assert.equal(linux.bridgeType, 'linux');
    assert.equal(linux.ovs, undefined);
    const ovs = parseAgentConfig([...base, '--bridge-type', 'ovs'], {}, '/x')!;
    assert.deepEqual(ovs.ovs, { socket: '/run/openvswitch/db.sock', datapath: 'system' });
    const fromEnv = parseAgentConfig(base, { BRIDGEWAY_BRIDGE_TYPE: 'ovs', BRIDGEWAY_OVSDB_SOCKET: '/x/db.sock', BRIDGEWAY_OVS_DATAPATH: 'netdev' }, '/x')!;
    assert.deepEqual(fromEnv.ovs, { socket: '/x/db.sock', datapath: 'netdev' });
    assert.throws(() => parseAgentConfig([...base, '--bridge-type', 'ovn'], {}, '/x'), /--bridge-type must be linux or ovs, got "ovn"/);
    assert.throws(() => parseAgentConfig([...base, '--bridge-type', 'ovs', '--ovs-datapath', 'dpdk'], {}, '/x'), /--ovs-datapath must be system or netdev/);
    assert.throws(() => parseAgentConfig([...base, '--bridge-type', 'ovs', '--ovsdb-socket', 'db.sock'], {}, '/x'), /--ovsdb-socket must be the absolute path/);
  });
  test('--cluster-cidr: <v4>, <v6> or both, in either order; kept IPv4 first as network addresses', () => {
    const cidrs = (text: string) => parseAgentConfig(['--cluster-cidr', text], { NODE_NAME: 'n' }, '/x')!.clusterCIDRs.map(formatCidr);
    assert.deepEqual(cidrs('10.244.0.0/16'), ['10.244.0.0/16']);
    assert.deepEqual(cidrs('fd00:10:244::/56'), ['fd00:10:244::/56']);
    assert.deepEqual(cidrs('10.244.0.0/16,fd00:10:244::/56'), ['10.244.0.0/16', 'fd00:10:244::/56']);
    assert.deepEqual(cidrs('FD00:10:244:0::1/56, 10.244.3.4/16'), ['10.244.0.0/16', 'fd00:10:244::/56']);
  });
  const bad: [string[], Record<string, string>, RegExp][] = [
    [['--serve'], { NODE_NAME: 'n', BRIDGEWAY_CLUSTER_CIDR: '10.244.0.0/16' }, /--serve is an uninstall flag: bridgeway-agent uninstall --serve/],
    [['uninstall', '--serve'], {}, /--node-name \(or \$NODE_NAME\) is required/],
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

test('doctor takes the flags of run, plus --json and --fix-leaks', () => {
  const config = parseAgentConfig(['doctor', ...base, '--json', '--fix-leaks', '--iface', 'ens5'], {}, '/x')!;
  assert.equal(config.command, 'doctor');
  assert.deepEqual(config.doctor, { json: true, fixLeaks: true });
  assert.equal(config.iface, 'ens5');
  assert.deepEqual(parseAgentConfig(base, {}, '/x')!.doctor, { json: false, fixLeaks: false });
  assert.match(helpText(), /bridgeway-agent doctor \[flags\]/);
});

test('doctor needs what run needs; its flags are refused elsewhere', () => {
  assert.throws(() => parseAgentConfig(['doctor', '--cluster-cidr', '10.0.0.0/8'], {}, '/x'), /--node-name \(or \$NODE_NAME\) is required/);
  assert.throws(() => parseAgentConfig(['doctor', '--node-name', 'n'], {}, '/x'), /--cluster-cidr/);
  assert.throws(() => parseAgentConfig([...base, '--fix-leaks'], {}, '/x'), (e: unknown) => e instanceof ConfigError && /--fix-leaks is a doctor flag/.test(e.message));
});

test('--network-policy (BRIDGEWAY_NETWORK_POLICY): true by default, false turns enforcement off, anything else refused', () => {
  const base = ['--node-name', 'n1', '--cluster-cidr', '10.244.0.0/16'];
  assert.equal(parseAgentConfig(base, {}, '/x')!.networkPolicy, true);
  assert.equal(parseAgentConfig(base, { BRIDGEWAY_NETWORK_POLICY: 'false' }, '/x')!.networkPolicy, false);
  assert.equal(parseAgentConfig([...base, '--network-policy', 'true'], { BRIDGEWAY_NETWORK_POLICY: 'false' }, '/x')!.networkPolicy, true);
  assert.throws(() => parseAgentConfig(base, { BRIDGEWAY_NETWORK_POLICY: 'no' }, '/x'), /--network-policy must be true or false, got "no"/);
});

test('policy explain <ns>/<pod> <ns>/<pod> <port>/<proto>: parsed; needs no node name; bad input says the usage', () => {
  const config = parseAgentConfig(['policy', 'explain', 'x/a', 'y/b', '80/TCP', '--kubeconfig', '/k'], {}, '/x')!;
  assert.equal(config.command, 'policy');
  assert.deepEqual(config.explain, { from: 'x/a', to: 'y/b', port: 80, protocol: 'TCP' });
  assert.deepEqual(parseAgentConfig(['policy', 'explain', 'x/a', 'y/b', '53/udp'], {}, '/x')!.explain!.protocol, 'UDP');
  for (const [args, message] of [
    [['policy'], /usage: bridgeway-agent policy explain <namespace>\/<pod>/],
    [['policy', 'explain', 'x/a', 'y/b'], /usage/],
    [['policy', 'explain', 'a', 'y/b', '80/tcp'], /"a" is not <namespace>\/<pod>/],
    [['policy', 'explain', 'x/a', 'y/b', '80'], /"80" is not <port>\/<proto>/],
    [['policy', 'explain', 'x/a', 'y/b', '0/tcp'], /"0\/tcp" is not <port>\/<proto>/],
    [['policy', 'explain', 'x/a', 'y/b', '80/icmp'], /"80\/icmp" is not <port>\/<proto>/],
    [['policy', 'describe', 'x/a', 'y/b', '80/tcp'], /usage/],
  ] as const) assert.throws(() => parseAgentConfig([...args], {}, '/x'), message, args.join(' '));
});
