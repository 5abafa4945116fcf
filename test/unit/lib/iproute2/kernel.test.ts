// lib/iproute2/kernel.ts, the Kernel through `ip` processes (the bundle on Node), against a
// FakeRunner that answers as `ip` does. What is checked is that backend's own side: one
// `ip -j -force -batch -` per apply (nsenter into a pod), each change spelled as its line with
// the read-back queries last, the failing lines of a batch told apart from the tolerated ones,
// and iproute2's error text mapped to the kernel layer's errors. The plugin's command tests run
// against the FakeKernel (test/unit/cni/), so this backend is pinned here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { CommandError } from '../../../../lib/exec.ts';
import { IpBatchError } from '../../../../lib/iproute2/batch.ts';
import { iproute2Kernel } from '../../../../lib/iproute2/kernel.ts';
import type { Change } from '../../../../lib/kernel/change.ts';
import { KernelChangeError } from '../../../../lib/kernel/errors.ts';
import { FakeRunner } from '../../../fixtures/fake-runner.ts';

const POD = '/run/netns/pod';
const BATCH = ['ip', '-j', '-force', '-batch', '-'];
const POD_BATCH = ['nsenter', `--net=${POD}`, '--', ...BATCH];
/** What `ip -force -batch` prints on stderr when line `line` of its input fails. */
const failedLine = (message: string, line: number) => ({ exitCode: 1, stderr: `${message}\nCommand failed -:${line}\n` });

const hostChanges: Change[] = [
  { op: 'add-bridge', name: 'cni0', mac: '0a:58:0a:00:00:01', mtu: 1400 },
  { op: 'set-up', link: 'cni0' },
  { op: 'add-address', link: 'cni0', address: parseCidr('10.0.0.1/24')!, replace: true },
  { op: 'add-veth', name: 'bw1', mac: '02:00:00:00:00:05', mtu: 1400, peer: { name: 'eth0', mac: '0a:58:0a:00:00:07', mtu: 1400, netns: POD } },
  { op: 'attach-port', link: 'bw1', bridge: 'cni0', alias: 'bridgeway:neta:c1:eth0' },
];
const podChanges: Change[] = [
  { op: 'set-up', link: 'lo' },
  { op: 'add-address', link: 'eth0', address: parseCidr('10.0.0.7/24')! },
  { op: 'set-up', link: 'eth0' },
  { op: 'add-route', dst: parseCidr('0.0.0.0/0')!, gateway: parseIp('10.0.0.1')!, link: 'eth0' },
];
const HOST_LINES =
  'link add cni0 address 0a:58:0a:00:00:01 mtu 1400 type bridge\n' +
  'link set cni0 up\n' +
  'addr replace 10.0.0.1/24 dev cni0\n' +
  `link add bw1 mtu 1400 address 02:00:00:00:00:05 type veth peer name eth0 mtu 1400 address 0a:58:0a:00:00:07 netns ${POD}\n` +
  'link set bw1 master cni0 alias bridgeway:neta:c1:eth0 up\n';
const rejection = (promise: Promise<unknown>) => promise.then(() => assert.fail('expected a rejection'), (e: unknown) => e);

describe('iproute2Kernel.apply: one ip process per batch', () => {
  test('the node\'s changes as ip lines, the read-back queries last in the same process, their JSON as KernelLinks', async () => {
    const run = new FakeRunner().on(BATCH, {
      stdout: `${JSON.stringify([{ ifindex: 2, ifname: 'cni0', address: '0a:58:0a:00:00:01' }])}\n${JSON.stringify([{ ifindex: 5, ifname: 'bw1', master: 'cni0', ifalias: 'bridgeway:neta:c1:eth0' }])}\n`,
    });
    const [bridge, ports] = await iproute2Kernel(run.run).apply(hostChanges, [{ op: 'show-link', link: 'cni0' }, { op: 'show-ports', bridge: 'cni0' }]);
    assert.deepEqual(run.calls.map((c) => [c.argv.join(' '), c.input]), [[BATCH.join(' '), `${HOST_LINES}link show dev cni0\nlink show master cni0\n`]]);
    assert.deepEqual(bridge, [{ index: 2, name: 'cni0', mac: '0a:58:0a:00:00:01', flags: [] }]);
    assert.deepEqual(ports, [{ index: 5, name: 'bw1', master: 'cni0', alias: 'bridgeway:neta:c1:eth0', flags: [] }]);
  });

  test('in the pod through nsenter; IPv6 addresses with nodad', async () => {
    const run = new FakeRunner().on(POD_BATCH, { stdout: `${JSON.stringify([{ ifindex: 3, ifname: 'eth0', operstate: 'UP' }])}\n` });
    const changes: Change[] = [...podChanges, { op: 'add-address', link: 'eth0', address: parseCidr('fd00:10::7/64')! }];
    const [eth0] = await iproute2Kernel(run.run).apply(changes, [{ op: 'show-link', link: 'eth0' }], POD);
    assert.deepEqual(run.calls.map((c) => [c.argv.join(' '), c.input]), [[
      POD_BATCH.join(' '),
      'link set lo up\naddr add 10.0.0.7/24 dev eth0\nlink set eth0 up\nroute add 0.0.0.0/0 via 10.0.0.1 dev eth0\naddr add fd00:10::7/64 dev eth0 nodad\nlink show dev eth0\n',
    ]]);
    assert.equal(eth0![0]!.operState, 'UP');
  });
});

describe('iproute2Kernel.apply: failing lines', () => {
  test('a failing line is an IpBatchError naming it as `ip <line>: <what ip printed>`', async () => {
    const run = new FakeRunner().failNth(BATCH, 1, failedLine('RTNETLINK answers: Operation not permitted', 4));
    const error = await rejection(iproute2Kernel(run.run).apply(hostChanges));
    assert.ok(error instanceof IpBatchError && error instanceof KernelChangeError);
    assert.equal(error.message, `ip link add bw1 mtu 1400 address 02:00:00:00:00:05 type veth peer name eth0 mtu 1400 address 0a:58:0a:00:00:07 netns ${POD}: RTNETLINK answers: Operation not permitted`);
    assert.deepEqual(error.failures.map((f) => f.kind), ['other']);
  });

  test('"File exists" on the bridge\'s line is tolerated; on the veth\'s it is kind "exists", which ADD tells apart', async () => {
    const bridgeExists = new FakeRunner().failNth(BATCH, 1, failedLine('RTNETLINK answers: File exists', 1));
    await iproute2Kernel(bridgeExists.run).apply(hostChanges);
    const vethExists = new FakeRunner().failNth(BATCH, 1, { exitCode: 1, stderr: 'RTNETLINK answers: File exists\nCommand failed -:1\nRTNETLINK answers: File exists\nCommand failed -:4\n' });
    const error = await rejection(iproute2Kernel(vethExists.run).apply(hostChanges));
    assert.ok(error instanceof KernelChangeError);
    assert.deepEqual(error.failures.map((f) => [f.what.split(' ').slice(0, 3).join(' '), f.kind]), [['link add bw1', 'exists']]);
  });

  test('a failing line of the pod\'s batch is named by its route line, with what ip printed', async () => {
    const run = new FakeRunner().failNth(POD_BATCH, 1, failedLine('Error: Nexthop has invalid gateway.', 4));
    const error = await rejection(iproute2Kernel(run.run).apply(podChanges, [], POD));
    assert.ok(error instanceof KernelChangeError);
    assert.equal(error.message, 'ip route add 0.0.0.0/0 via 10.0.0.1 dev eth0: Error: Nexthop has invalid gateway.');
  });
});

describe('iproute2Kernel: single operations', () => {
  test('deleteLinkIfPresent: `ip link del dev`; true when deleted, false on "Cannot find device", the CommandError otherwise', async () => {
    const run = new FakeRunner()
      .failNth(['ip', 'link', 'del', 'dev', 'gone'], 1, { stderr: 'Cannot find device "gone"' })
      .failNth(['ip', 'link', 'del', 'dev', 'locked'], 1, { stderr: 'RTNETLINK answers: Operation not permitted' });
    const kernel = iproute2Kernel(run.run);
    assert.equal(await kernel.deleteLinkIfPresent('bw1'), true);
    assert.equal(await kernel.deleteLinkIfPresent('gone'), false);
    await assert.rejects(kernel.deleteLinkIfPresent('locked'), (e) => e instanceof CommandError && /Operation not permitted/.test(e.stderr));
  });

  test('deleteLinksIfPresent: one batch of `link del` lines, the missing ones tolerated; none to delete spawns nothing', async () => {
    const run = new FakeRunner().failNth(BATCH, 1, failedLine('Cannot find device "bw1"', 1));
    const kernel = iproute2Kernel(run.run);
    await kernel.deleteLinksIfPresent(['bw1', 'bw2']);
    await kernel.deleteLinksIfPresent([]);
    assert.deepEqual(run.calls.map((c) => c.input), ['link del bw1\nlink del bw2\n']);
  });

  test('getLink reads details (-d: a port\'s hairpin mode, which CHECK compares) and is undefined for a missing link; listLinks asks by type', async () => {
    const run = new FakeRunner()
      .failNth(['ip', '-d', '-j', 'link', 'show', 'dev', 'nope'], 1, { stderr: 'Device "nope" does not exist.' })
      .on(['ip', '-d', '-j', 'link', 'show', 'dev', 'bw1'], { stdout: JSON.stringify([{ ifindex: 5, ifname: 'bw1', linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { hairpin: false } } }]) })
      .on(['ip', '-j', 'link', 'show', 'type', 'veth'], { stdout: JSON.stringify([{ ifindex: 5, ifname: 'bw1', ifalias: 'bridgeway:neta:c1:eth0' }]) });
    const kernel = iproute2Kernel(run.run);
    assert.equal(await kernel.getLink('nope'), undefined);
    assert.deepEqual(await kernel.getLink('bw1'), { index: 5, name: 'bw1', flags: [], kind: 'veth', portKind: 'bridge', hairpin: false });
    assert.deepEqual((await kernel.listLinks('veth')).map((l) => l.alias), ['bridgeway:neta:c1:eth0']);
  });
});

describe('iproute2Kernel.apply: sysctls, one tee in the namespace', () => {
  const sysctls: Change[] = [
    { op: 'set-sysctl', key: 'net/ipv6/conf/eth0/accept_ra', value: '0', tolerate: 'missing' },
    { op: 'set-sysctl', key: 'net/ipv4/conf/all/accept_redirects', value: '0' },
    { op: 'set-sysctl', key: 'net/ipv4/conf/eth0/accept_redirects', value: '0' },
  ];
  const TEE = ['nsenter', `--net=${POD}`, '--', 'tee'];
  const FILES = ['/proc/sys/net/ipv6/conf/eth0/accept_ra', '/proc/sys/net/ipv4/conf/all/accept_redirects', '/proc/sys/net/ipv4/conf/eth0/accept_redirects'];

  test('the batch\'s sysctls in one tee process inside the pod (the value on stdin, no shell), before the ip batch, queries last', async () => {
    const run = new FakeRunner().on(POD_BATCH, { stdout: `${JSON.stringify([{ ifindex: 3, ifname: 'eth0', operstate: 'UP' }])}\n` });
    const [eth0] = await iproute2Kernel(run.run).apply([...sysctls, ...podChanges], [{ op: 'show-link', link: 'eth0' }], POD);
    assert.deepEqual(run.calls.map((c) => [c.argv, c.input]), [
      [[...TEE, ...FILES], '0\n'],
      [POD_BATCH, 'link set lo up\naddr add 10.0.0.7/24 dev eth0\nlink set eth0 up\nroute add 0.0.0.0/0 via 10.0.0.1 dev eth0\nlink show dev eth0\n'],
    ]);
    assert.equal(eth0![0]!.operState, 'UP');
  });

  test('different values: one tee per value; sysctls after the last ip line: the queries get their own batch', async () => {
    const run = new FakeRunner().on(BATCH, { stdout: `${JSON.stringify([{ ifindex: 2, ifname: 'cni0' }])}\n` });
    await iproute2Kernel(run.run).apply([
      { op: 'set-up', link: 'cni0' },
      { op: 'set-sysctl', key: 'net/ipv6/conf/cni0/accept_ra', value: '0' },
      { op: 'set-sysctl', key: 'net/ipv4/conf/cni0/forwarding', value: '1' },
    ], [{ op: 'show-link', link: 'cni0' }]);
    assert.deepEqual(run.calls.map((c) => [c.argv.join(' '), c.input]), [
      [BATCH.join(' '), 'link set cni0 up\n'],
      ['tee /proc/sys/net/ipv6/conf/cni0/accept_ra', '0\n'],
      ['tee /proc/sys/net/ipv4/conf/cni0/forwarding', '1\n'],
      [BATCH.join(' '), 'link show dev cni0\n'],
    ]);
  });

  test('a missing IPv6 key is tolerated; a missing IPv4 key fails, named as sysctl -w with tee\'s words; no ip batch after it', async () => {
    const tolerated = new FakeRunner().failNth(TEE, 1, { exitCode: 1, stderr: `tee: ${FILES[0]}: No such file or directory\n` });
    await iproute2Kernel(tolerated.run).apply(sysctls, [], POD);

    const run = new FakeRunner().failNth(TEE, 1, { exitCode: 1, stderr: `tee: ${FILES[0]}: No such file or directory\ntee: ${FILES[2]}: No such file or directory\n` });
    const error = await rejection(iproute2Kernel(run.run).apply([...sysctls, ...podChanges], [], POD));
    assert.ok(error instanceof KernelChangeError);
    assert.deepEqual(error.failures, [{ what: 'sysctl -w net/ipv4/conf/eth0/accept_redirects=0', message: 'No such file or directory', kind: 'missing' }]);
    assert.equal(run.calls.length, 1);
  });

  test('readSysctls: one grep -H in the namespace; a file it cannot find reads as undefined, any other failure throws', async () => {
    const GREP = ['nsenter', `--net=${POD}`, '--', 'grep', '-H', ''];
    const keys = ['net/ipv6/conf/eth0/accept_ra', 'net/ipv4/conf/all/accept_redirects'];
    const run = new FakeRunner().failNth(GREP, 1, {
      exitCode: 2,
      stdout: '/proc/sys/net/ipv4/conf/all/accept_redirects:0\n',
      stderr: 'grep: /proc/sys/net/ipv6/conf/eth0/accept_ra: No such file or directory\n',
    });
    assert.deepEqual([...(await iproute2Kernel(run.run).readSysctls(keys, POD))], [[keys[0], undefined], [keys[1], '0']]);
    assert.deepEqual(run.calls.map((c) => c.argv.join(' ')), [`${GREP.join(' ')} /proc/sys/${keys[0]} /proc/sys/${keys[1]}`]);
    const denied = new FakeRunner().failNth(GREP, 1, { exitCode: 2, stderr: 'grep: /proc/sys/net/ipv4/conf/all/accept_redirects: Permission denied\n' });
    await assert.rejects(iproute2Kernel(denied.run).readSysctls(keys, POD), CommandError);
  });

  test('nsenter failing (no tee line on stderr) passes through as the CommandError it is', async () => {
    const run = new FakeRunner().failNth(TEE, 1, { exitCode: 1, stderr: 'nsenter: cannot open /run/netns/pod: No such file or directory\n' });
    const error = await rejection(iproute2Kernel(run.run).apply(sysctls, [], POD));
    assert.ok(error instanceof CommandError && !(error instanceof KernelChangeError));
  });
});

describe('iproute2Kernel.apply: the anti-spoofing changes through nft -f -', async () => {
  const { renderElements, renderInstall } = await import('../../../../lib/antispoof/nft-text.ts');
  const { antispoofRuleset, attachmentElements } = await import('../../../../lib/antispoof/ruleset.ts');
  const { NftablesUnavailableError } = await import('../../../../lib/kernel/errors.ts');
  const ruleset = antispoofRuleset();
  const elements = attachmentElements({ port: 'bw1', mac: '0a:58:0a:00:00:07', addresses: [parseIp('10.0.0.7')!] });
  const NFT = ['nft', '-f', '-'];
  const guard: Change = { op: 'guard-port', link: 'bw1', elements };

  test('after the node\'s ip batch (which keeps the read-back queries), one nft process with the elements\' text', async () => {
    const run = new FakeRunner().on(BATCH, { stdout: '[]\n' });
    await iproute2Kernel(run.run).apply([...hostChanges, guard], [{ op: 'show-link', link: 'cni0' }]);
    assert.deepEqual(run.calls.map((c) => [c.argv.join(' '), c.input]), [
      [BATCH.join(' '), `${HOST_LINES}link show dev cni0\n`],
      [NFT.join(' '), renderElements(ruleset, 'add', elements)],
    ]);
    assert.match(run.calls[1]!.input!, /^add element bridge bridgeway guarded_ports \{ "bw1" \}\nadd element bridge bridgeway port_mac \{ "bw1" \. 0a:58:0a:00:00:07 \}\n/);
  });

  test('no table yet: the elements, the table (File exists counts as made), the elements again', async () => {
    const run = new FakeRunner()
      .failNth(NFT, 1, { stderr: 'Error: Could not process rule: No such file or directory\n' })
      .failNth(NFT, 1, { stderr: 'Error: Could not process rule: File exists\n' }); // each rule counts only the calls it sees
    await iproute2Kernel(run.run).apply([guard]);
    assert.deepEqual(run.calls.map((c) => c.input), [renderElements(ruleset, 'add', elements), renderInstall(ruleset), renderElements(ruleset, 'add', elements)]);
  });

  test('unguard: deletes idempotent, one element per process once one is missing', async () => {
    const run = new FakeRunner().failFrom(NFT, 1, { stderr: 'Error: Could not process rule: No such file or directory\n' });
    await iproute2Kernel(run.run).apply([{ op: 'unguard-port', link: 'bw1', elements }]);
    assert.deepEqual(run.calls.map((c) => c.input), [renderElements(ruleset, 'delete', elements), ...elements.map((e) => renderElements(ruleset, 'delete', [e]))]);
  });

  test('no nft, or a kernel without the bridge family: NftablesUnavailableError; an unguard then has nothing to remove', async () => {
    const missing = new FakeRunner().on(NFT, () => {
      throw new CommandError(NFT, null, '', '', 'spawnSync nft ENOENT');
    });
    const noNft = await rejection(iproute2Kernel(missing.run).apply([guard]));
    assert.ok(noNft instanceof NftablesUnavailableError);
    assert.match((noNft as Error).message, /nft is not installed.*"antiSpoofing": false/);
    await iproute2Kernel(missing.run).apply([{ op: 'unguard-port', link: 'bw1', elements }]);
    const unsupported = new FakeRunner()
      .failNth(NFT, 1, { stderr: 'Error: Could not process rule: No such file or directory\n' })
      .failNth(NFT, 1, { stderr: 'Error: Could not process rule: Operation not supported\n' });
    assert.ok(await rejection(iproute2Kernel(unsupported.run).apply([guard])) instanceof NftablesUnavailableError);
  });

  test('any other nft failure: a KernelChangeError with nft\'s words', async () => {
    const run = new FakeRunner().failNth(NFT, 1, { stderr: 'Error: Could not process rule: Cannot allocate memory\n' });
    const error = await rejection(iproute2Kernel(run.run).apply([guard]));
    assert.ok(error instanceof KernelChangeError);
    assert.match((error as Error).message, /^nft: nft 'add element .*': Error: Could not process rule: Cannot allocate memory$/);
  });

  test('listGuards: one `nft -j list table` in the node\'s namespace, read by port; no table or no nft: no elements', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const listed = fs.readFileSync(path.join(import.meta.dirname, '../../../fixtures/nft/listed-table.json'), 'utf8');
    const LIST = ['nft', '-j', 'list', 'table', 'bridge', 'bridgeway'];
    const run = new FakeRunner().on(LIST, { stdout: listed });
    const guards = await iproute2Kernel(run.run).listGuards();
    assert.deepEqual(run.calls.map((c) => c.argv), [LIST]);
    assert.deepEqual([...guards.keys()], ['bw0123456789ab']);
    assert.equal(guards.get('bw0123456789ab')!.length, 9, 'port, MAC, ARP with its address and 0.0.0.0, IPv4, IPv6 and link-local in two sets');
    const noTable = new FakeRunner().failNth(LIST, 1, { exitCode: 1, stderr: 'Error: No such file or directory\nlist table bridge bridgeway\n' });
    assert.deepEqual(await iproute2Kernel(noTable.run).listGuards(), new Map());
    const refused = new FakeRunner().failNth(LIST, 1, { exitCode: 1, stderr: 'Error: Operation not permitted' });
    await assert.rejects(iproute2Kernel(refused.run).listGuards(), /^KernelError: nft: nft -j list table bridge bridgeway: Error: Operation not permitted$/);
  });
});
