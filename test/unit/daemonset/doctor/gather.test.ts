// The doctor's gather step against a recording fake runner and files in a temp directory: it
// reads the node in four processes (the anti-spoofing table in one `nft -j list`), changes nothing; --fix-leaks releases only old leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { DiskStore } from '../../../../ipam/disk-store.ts';
import { parseAgentConfig } from '../../../../daemonset/config.ts';
import { doctor, LEAK_GRACE_MS } from '../../../../daemonset/doctor/doctor.ts';
import { gatherFacts } from '../../../../daemonset/doctor/gather.ts';
import { FakeRunner } from '../../../fixtures/fake-runner.ts';
import { hostVethName } from '../../../../lib/names.ts';
import { elementId } from '../../../../lib/antispoof/nft-json.ts';
import { attachmentElements } from '../../../../lib/antispoof/ruleset.ts';
import { CommandError } from '../../../../lib/exec.ts';
import { iproute2Network } from '../../../../daemonset/host/network.ts';

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-doctor-'));
  const at = (...parts: string[]) => path.join(dir, ...parts);
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  };
  for (const [key, value] of Object.entries({ 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '2', 'net.ipv4.conf.eth1.rp_filter': '0' })) write(at('proc-sys', ...key.split('.')), `${value}\n`);
  write(at('nodes.yaml'), 'nodes:\n  - {name: a, podCIDR: 10.244.1.0/24, eth1IP: 192.168.50.10}\n  - {name: b, podCIDR: 10.244.2.0/24, eth1IP: 192.168.50.11}\n');
  write(at('net.d', '10-bridgeway.conflist'), JSON.stringify({ cniVersion: '1.1.0', name: 'bridgeway', plugins: [{ type: 'bridgeway', mtu: 1500, ipam: { subnet: '10.244.1.0/24' } }] }));
  write(at('net.d', '00-other.conflist'), '{}');
  write(at('dist', 'bridgeway'), 'the plugin');
  write(at('bin', 'bridgeway'), 'the plugin');
  fs.chmodSync(at('bin', 'bridgeway'), 0o755);
  const config = parseAgentConfig(['doctor', '--node-name', 'a', '--nodes-file', at('nodes.yaml'), '--cluster-cidr', '10.244.0.0/16',
    '--cni-conf-dir', at('net.d'), '--cni-bin-dir', at('bin'), '--plugin-binary', at('dist', 'bridgeway'), '--data-dir', at('ipam'),
    '--health-addr', '127.0.0.1:1'], {}, '/x')!;
  const store = new DiskStore(at('ipam', 'bridgeway'));
  const links = [
    { ifname: 'eth1', mtu: 1500, flags: ['UP'], addr_info: [{ family: 'inet', local: '192.168.50.10', prefixlen: 24 }] },
    { ifname: hostVethName('live', 'eth0'), mtu: 1500, flags: ['UP'], addr_info: [] },
  ];
  const routes = [{ dst: '10.244.2.0/24', gateway: '192.168.50.11', dev: 'eth1', protocol: '77' }];
  const runner = new FakeRunner()
    .on(['ip', '-j', '-force', '-batch', '-'], { stdout: `${JSON.stringify(links)}\n${JSON.stringify(routes)}\n` })
    .on(['iptables-nft-save'], { stdout: '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n' })
    .failFrom(['iptables-legacy-save'], 1, { stderr: 'iptables-legacy-save: not found' })
    // No anti-spoofing table, as nft 1.0.6 says it.
    .failFrom(['nft'], 1, { stderr: 'Error: No such file or directory\nlist table bridge bridgeway\n                  ^^^^^^^^^\n' });
  const deps = { run: runner.run, network: iproute2Network(runner.run), procSys: at('proc-sys'), networkManager: { runDir: at('no-nm'), confDir: at('no-nm') } };
  return { dir, at, config, store, runner, deps, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

test('gather: six processes, each a read; files, sysctls and reservations as facts', async () => {
  const s = setup();
  try {
    s.store.reserve(parseIp('10.244.1.2')!.value, { containerId: 'live', ifname: 'eth0' });
    const facts = await gatherFacts(s.config, s.deps);
    assert.deepEqual(s.runner.calls.map((c) => c.argv.join(' ')), ['ip -j -force -batch -', 'iptables-nft-save', 'iptables-legacy-save', 'nft -j list table bridge bridgeway', 'nft -j list table inet bridgeway_policy', 'ip -j -d addr show']);
    assert.deepEqual(facts.antispoof, { absent: 'table' });
    assert.deepEqual(facts.policy.table, { absent: 'table' });
    assert.equal(s.runner.calls[0]!.input, 'addr show\nroute show table all\n');
    assert.deepEqual(Object.keys(facts.iptables), ['nft']);
    assert.equal(facts.sysctls['net.ipv4.ip_forward'], '1');
    assert.equal(facts.sysctls['net.bridge.bridge-nf-call-iptables'], undefined);
    assert.deepEqual(facts.conflist.before, [s.at('net.d', '00-other.conflist')]);
    assert.equal(facts.plugin.sameAsSource, true);
    assert.deepEqual(facts.ipam.reservations.map((r) => [r.address, r.containerId, r.hostVeth]), [['10.244.1.2', 'live', hostVethName('live', 'eth0')]]);
    assert.ok('list' in facts.nodes && facts.nodes.list.length === 2);
    assert.match(facts.agent.error ?? '', /ECONNREFUSED/);
    assert.deepEqual(facts.networkManager, { running: false });
  } finally {
    s.cleanup();
  }
});

test('gather: the anti-spoofing table read back into elements; nft missing and other errors recorded as such', async () => {
  const s = setup();
  try {
    const listed = fs.readFileSync(path.join(import.meta.dirname, '../../../fixtures/nft/listed-table.json'), 'utf8');
    s.runner.heal().failFrom(['iptables-legacy-save'], 1, { stderr: 'not found' }).on(['nft'], { stdout: listed });
    const facts = await gatherFacts(s.config, s.deps);
    assert.ok('elements' in facts.antispoof);
    assert.deepEqual(facts.antispoof.sets, ['guarded_ports', 'port_mac', 'port_arp', 'port_ipv4', 'port_ipv6', 'port_nd_target']);
    assert.deepEqual(facts.antispoof.elements.map(elementId).sort(),
      attachmentElements({ port: 'bw0123456789ab', mac: '0a:58:0a:63:00:05', addresses: ['10.99.0.5', 'fd00:99::5'].map((a) => parseIp(a)!) }).map(elementId).sort());
    assert.equal(s.runner.callsMatching(['nft', '-j', 'list', 'table', 'bridge']).length, 1, 'one process');

    s.runner.on(['nft'], () => Promise.reject(new CommandError(['nft'], null, '', '', 'spawn nft ENOENT')));
    assert.deepEqual((await gatherFacts(s.config, s.deps)).antispoof, { absent: 'nft' });
    s.runner.on(['nft'], { stdout: 'not json' });
    const garbled = (await gatherFacts(s.config, s.deps)).antispoof;
    assert.ok('error' in garbled && /^nft -j list table bridge bridgeway: /.test(garbled.error), JSON.stringify(garbled));
    s.runner.failFrom(['nft'], 1, { stderr: 'Error: Operation not permitted' });
    const denied = (await gatherFacts(s.config, s.deps)).antispoof;
    assert.ok('error' in denied && /Operation not permitted/.test(denied.error), JSON.stringify(denied));
  } finally {
    s.cleanup();
  }
});

test('gather, IPv6 in the cluster CIDR: ip6tables-save of each backend too, as the agent names them', async () => {
  const s = setup();
  try {
    const config = { ...s.config, clusterCIDRs: [...s.config.clusterCIDRs, parseCidr('fd00:10:244::/56')!] };
    s.runner.on(['ip6tables-nft-save'], { stdout: '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n' }).failFrom(['ip6tables-legacy-save'], 1, { stderr: 'not found' });
    const facts = await gatherFacts(config, s.deps);
    assert.deepEqual(s.runner.calls.map((c) => c.argv.join(' ')).filter((c) => c.includes('tables')).sort(),
      ['ip6tables-legacy-save', 'ip6tables-nft-save', 'iptables-legacy-save', 'iptables-nft-save']);
    assert.deepEqual(Object.keys(facts.ip6tables ?? {}), ['nft']);
  } finally {
    s.cleanup();
  }
});

test('--fix-leaks releases a reservation whose host veth is gone, keeps live and young ones', async () => {
  const s = setup();
  try {
    for (const [address, containerId] of [['10.244.1.2', 'live'], ['10.244.1.3', 'gone'], ['10.244.1.4', 'adding']] as const) {
      s.store.reserve(parseIp(address)!.value, { containerId, ifname: 'eth0' });
    }
    // "gone" was reserved long ago; "adding" just now (an ADD between reserving and creating its veth).
    const old = new Date(Date.now() - 2 * LEAK_GRACE_MS);
    fs.utimesSync(s.at('ipam', 'bridgeway', 'ips', '10.244.1.3'), old, old);
    let out = '';
    const report = async (fixLeaks: boolean) => {
      out = '';
      const code = await doctor({ ...s.config, doctor: { json: true, fixLeaks } }, { ...s.deps, write: (t) => (out += t) });
      return { code, findings: JSON.parse(out).findings as { severity: string; object: string; detail: string }[] };
    };
    const before = await report(false);
    assert.equal(before.code, 1, 'the agent is not running: FAIL');
    assert.deepEqual(before.findings.filter((f) => f.object.startsWith('address ')).map((f) => [f.severity, f.object]), [['WARN', 'address 10.244.1.3'], ['WARN', 'address 10.244.1.4']]);
    assert.equal(s.store.list().length, 3, 'without --fix-leaks nothing is released');

    const fixed = await report(true);
    assert.deepEqual(fixed.findings.filter((f) => f.object.startsWith('address ')).map((f) => [f.severity, f.object, f.detail.split(' ')[0]]), [['OK', 'address 10.244.1.3', 'released'], ['WARN', 'address 10.244.1.4', 'reserved']]);
    assert.deepEqual(s.store.list().map((r) => r.attachment.containerId).sort(), ['adding', 'live']);
  } finally {
    s.cleanup();
  }
});

test('--fix-leaks releases a dead dual-stack pod\'s reservations of both families', async () => {
  const s = setup();
  try {
    const v6 = new DiskStore(s.at('ipam', 'bridgeway'), 6);
    s.store.reserve(parseIp('10.244.1.3')!.value, { containerId: 'gone', ifname: 'eth0' });
    v6.reserve(parseIp('fd00:10:244:1::3')!.value, { containerId: 'gone', ifname: 'eth0' });
    const old = new Date(Date.now() - 2 * LEAK_GRACE_MS);
    fs.utimesSync(s.at('ipam', 'bridgeway', 'ips', '10.244.1.3'), old, old);
    fs.utimesSync(s.at('ipam', 'bridgeway', 'ipv6', 'ips', 'fd00-10-244-1--3'), old, old);
    let out = '';
    await doctor({ ...s.config, doctor: { json: true, fixLeaks: true } }, { ...s.deps, write: (t) => (out += t) });
    const findings = JSON.parse(out).findings as { severity: string; object: string; detail: string }[];
    assert.deepEqual(findings.filter((f) => f.object.startsWith('address ')).map((f) => [f.severity, f.object, f.detail.split(' ')[0]]).sort(),
      [['OK', 'address 10.244.1.3', 'released'], ['OK', 'address fd00:10:244:1::3', 'released']]);
    assert.deepEqual([s.store.list().length, v6.list().length], [0, 0]);
  } finally {
    s.cleanup();
  }
});
