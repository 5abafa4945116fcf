import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../lib/cidr.ts';
import { formatBatch, parseBatchErrors } from '../../lib/iproute2/batch.ts';
import { parseNetConf } from '../../cni/config/netconf.ts';
import { addressMac, hostVethMac, planAdd } from '../../cni/plan.ts';
import { convertResult, parsePrevResult } from '../../cni/result.ts';
import { describeChange, toIpCommand } from '../../lib/iproute2/change-command.ts';
import { hostVethName } from '../../lib/names.ts';

const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', mtu: 1400, hairpinMode: true, ipam: { subnet: '10.244.1.0/24' }, dns: { nameservers: ['10.96.0.10'] } }));
const pod = { ips: [{ address: parseCidr('10.244.1.7/24')!, gateway: parseIp('10.244.1.1')! }], routes: [{ dst: parseCidr('0.0.0.0/0')!, gw: parseIp('10.244.1.1')! }] };
const target = { containerId: 'abc', ifname: 'eth0', netns: '/run/netns/pod' };

describe('names and MACs', () => {
  test('host veth names are deterministic, short enough and differ per attachment', () => {
    const name = hostVethName('abc', 'eth0');
    assert.match(name, /^bw[0-9a-f]{12}$/);
    assert.equal(name, hostVethName('abc', 'eth0'));
    assert.notEqual(name, hostVethName('abc', 'net1'));
    assert.notEqual(name, hostVethName('abd', 'eth0'));
  });
  test('MACs: pods and bridge 0a:58:<ip>, host veth locally administered unicast', () => {
    assert.equal(addressMac(parseIp('10.244.1.7')!), '0a:58:0a:f4:01:07');
    const mac = hostVethMac('abc', 'eth0');
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
  });
});

describe('planAdd', () => {
  const plan = planAdd(conf, target, pod);
  test('node side: bridge created with its MAC, gateway, veth born in the netns, port with its alias, hairpin', () => {
    assert.deepEqual(plan.hostChanges.map(describeChange), [
      'link add cni0 address 0a:58:0a:f4:01:01 mtu 1400 type bridge',
      'link set cni0 up',
      'addr replace 10.244.1.1/24 dev cni0',
      `link add ${plan.hostVeth} mtu 1400 address ${hostVethMac('abc', 'eth0')} type veth peer name eth0 mtu 1400 address 0a:58:0a:f4:01:07 netns /run/netns/pod`,
      `link set ${plan.hostVeth} master cni0 alias bridgeway:n:abc:eth0 up`,
      `link set ${plan.hostVeth} type bridge_slave hairpin on`,
    ]);
    assert.equal(toIpCommand(plan.hostChanges[0]!).tolerate, 'exists');
  });
  test('pod side: lo up, address, link up, routes', () => {
    assert.deepEqual(plan.podChanges.map(describeChange), [
      'link set lo up',
      'addr add 10.244.1.7/24 dev eth0',
      'link set eth0 up',
      'route add 0.0.0.0/0 via 10.244.1.1 dev eth0',
    ]);
  });
  test('result: bridge, host veth, pod interface with sandbox; ips index the pod interface', () => {
    assert.deepEqual(plan.result, {
      cniVersion: '1.1.0',
      interfaces: [
        { name: 'cni0', mac: '0a:58:0a:f4:01:01' },
        { name: plan.hostVeth, mac: hostVethMac('abc', 'eth0') },
        { name: 'eth0', mac: '0a:58:0a:f4:01:07', mtu: 1400, sandbox: '/run/netns/pod' },
      ],
      ips: [{ address: '10.244.1.7/24', gateway: '10.244.1.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.244.1.1' }],
      dns: { nameservers: ['10.96.0.10'] },
    });
  });
  test('no gateway address on the bridge when isGateway is false', () => {
    const noGw = planAdd({ ...conf, isGateway: false }, target, pod);
    assert.ok(!noGw.hostChanges.some((c) => c.op === 'add-address'));
  });
});

describe('result conversion', () => {
  const { result } = planAdd(conf, target, pod);
  for (const version of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    test(`${version} adds ips[].version`, () => {
      const converted = convertResult(result, version) as { cniVersion: string; ips: { version: string }[] };
      assert.equal(converted.cniVersion, version);
      assert.equal(converted.ips[0]!.version, '4');
    });
  }
  for (const version of ['1.0.0', '1.1.0'] as const) {
    test(`${version} has no ips[].version`, () => {
      const converted = convertResult(result, version) as { ips: object[] };
      assert.ok(!('version' in converted.ips[0]!));
    });
  }
  test('prevResult of any version reads back', () => {
    const back = parsePrevResult(JSON.parse(JSON.stringify(convertResult(result, '0.4.0'))))!;
    assert.equal(back.ips[0]!.address, '10.244.1.7/24');
    assert.equal(back.interfaces[2]!.sandbox, '/run/netns/pod');
    assert.equal(parsePrevResult('nope'), undefined);
  });
});

describe('ip batch', () => {
  const commands = [{ args: ['link', 'add', 'x', 'type', 'bridge'] }, { args: ['addr', 'add', '1.2.3.4/24', 'dev', 'x'] }, { args: ['link', 'set', 'x', 'up'] }];
  test('errors are attributed to their line', () => {
    const failures = parseBatchErrors('RTNETLINK answers: File exists\nCommand failed -:1\nError: ipv4: Address already assigned.\nCommand failed -:2\n', commands);
    assert.deepEqual(failures.map((f) => [f.command.args[0], f.message]), [['link', 'RTNETLINK answers: File exists'], ['addr', 'Error: ipv4: Address already assigned.']]);
  });
  test('an argument with a newline cannot smuggle in another command', () => {
    assert.throws(() => formatBatch([{ args: ['link', 'del', 'x\nlink del eth0'] }]), /invalid ip argument/);
  });
});
