import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bridgeNetfilterFindings, checkHost, ensureIpForward, hostSysctlKeys } from '../../../../daemonset/host/checks.ts';

function fakeProcSys(values: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-procsys-'));
  for (const [key, value] of Object.entries(values)) {
    const file = path.join(root, ...key.split('.'));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${value}\n`);
  }
  return root;
}

test('ip_forward is turned on, once', () => {
  const root = fakeProcSys({ 'net.ipv4.ip_forward': '0' });
  assert.equal(ensureIpForward(root), true);
  assert.equal(fs.readFileSync(path.join(root, 'net/ipv4/ip_forward'), 'utf8'), '1');
  assert.equal(ensureIpForward(root), false);
  fs.rmSync(root, { recursive: true });
});

test('findings name the setting, the problem and the fix', () => {
  const missing = fakeProcSys({ 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.eth1.rp_filter': '1', 'net.ipv4.conf.cni0.rp_filter': '2' });
  const findings = checkHost({ iface: 'eth1', bridge: 'cni0', root: missing });
  assert.deepEqual(findings.map((f) => f.setting), ['net.bridge.bridge-nf-call-iptables', 'net.ipv4.conf.eth1.rp_filter']);
  assert.match(findings[0]!.fix, /modprobe br_netfilter/);
  assert.match(findings[1]!.fix, /rp_filter=2/);

  const strictAll = fakeProcSys({ 'net.bridge.bridge-nf-call-iptables': '1', 'net.ipv4.conf.all.rp_filter': '1', 'net.ipv4.conf.eth1.rp_filter': '0' });
  assert.deepEqual(checkHost({ iface: 'eth1', bridge: 'cni0', root: strictAll }).map((f) => f.setting), ['net.ipv4.conf.eth1.rp_filter'], 'conf.all=1 makes eth1 strict too');

  const good = fakeProcSys({ 'net.bridge.bridge-nf-call-iptables': '1', 'net.ipv4.conf.all.rp_filter': '2', 'net.ipv4.conf.eth1.rp_filter': '1' });
  assert.deepEqual(checkHost({ iface: 'eth1', bridge: 'cni0', root: good }), [], 'max(all, eth1) = 2 is loose');
  for (const root of [missing, strictAll, good]) fs.rmSync(root, { recursive: true });
});

test('br_netfilter: each family in use needs its switch at 1; absent means the module is not loaded', () => {
  const values: Record<string, string | undefined> = { 'net.bridge.bridge-nf-call-iptables': '1', 'net.bridge.bridge-nf-call-ip6tables': '0' };
  const read = (key: string) => values[key];
  assert.deepEqual(bridgeNetfilterFindings(read, [4]), [], 'IPv4 only: the ip6tables switch does not matter');
  const dual = bridgeNetfilterFindings(read, [4, 6]);
  assert.deepEqual(dual.map((f) => f.setting), ['net.bridge.bridge-nf-call-ip6tables']);
  assert.match(dual[0]!.problem, /^0: pod-to-pod traffic on this node's bridge bypasses ip6tables: a Service whose client and backend pods share this node gets no answer/);
  assert.equal(dual[0]!.fix, 'sysctl -w net.bridge.bridge-nf-call-ip6tables=1, persisted in /etc/sysctl.d/');
  const unloaded = bridgeNetfilterFindings(() => undefined, [4, 6]);
  assert.deepEqual(unloaded.map((f) => f.setting), ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables']);
  for (const finding of unloaded) {
    assert.match(finding.problem, /^absent: br_netfilter is not loaded/);
    assert.match(finding.fix, new RegExp(`^modprobe br_netfilter && echo br_netfilter > /etc/modules-load\\.d/br_netfilter\\.conf; sysctl -w ${finding.setting.replaceAll('.', '\\.')}=1`));
  }
  assert.deepEqual(hostSysctlKeys(['eth1'], [4, 6]), ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.conf.eth1.rp_filter']);
});
