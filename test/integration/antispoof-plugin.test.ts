// The real Bun plugin guards each pod's port (issue 17): after ADD the node's `bridge bridgeway`
// table holds exactly that pod's elements, spelled as lib/antispoof/nft-text.ts renders them (the
// expected table is loaded with `nft -f` into a namespace of its own and both listings compared);
// DEL removes them, and only them; a network with "antiSpoofing": false installs nothing. A node
// without nf_tables gets code 11 and nothing half-made; a pod namespace whose default
// addr_gen_mode is not EUI-64 still gets the link-local address its port allows. All in the
// harness's namespaces: the root namespace's ruleset must stay as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { renderElements, renderInstall } from '../../lib/antispoof/nft-text.ts';
import { antispoofRuleset, linkLocalFromMac } from '../../lib/antispoof/ruleset.ts';
import { formatIp, parseCidr } from '../../lib/cidr.ts';
import { podElements } from '../../cni/plan.ts';
import { hostVethName } from '../../lib/names.ts';
import { execIn, run } from '../support/exec-in.ts';
import { poll } from '../support/poll.ts';
import { PLUGIN, skipUnlessRoot, TestNode } from './harness.ts';

const ruleset = antispoofRuleset();

/** A listing with each set's elements sorted: the kernel lists a hash set in its own order. */
function normalize(listing: string): string {
  return listing.replace(/elements = \{([^}]*)\}/g, (_all, items: string) => `elements = { ${items.split(',').map((i) => i.replace(/\s+/g, ' ').trim()).sort().join(', ')} }`);
}

describe('the plugin\'s anti-spoofing table', { skip: skipUnlessRoot }, () => {
  let node: TestNode;
  let expected: TestNode;
  let rootRuleset = '';
  before(async () => {
    rootRuleset = (await run(['nft', 'list', 'ruleset'])).stdout;
    node = await TestNode.create();
    expected = await TestNode.create();
  });
  after(async () => {
    await node?.cleanup();
    await expected?.cleanup();
    assert.equal((await run(['nft', 'list', 'ruleset'])).stdout, rootRuleset, 'the root namespace\'s ruleset changed');
  });

  const listing = async (n: TestNode) => normalize((await n.exec(['nft', 'list', 'table', 'bridge', ruleset.table])).stdout);
  /** The table as the renderer spells it with these pods' elements, as the kernel lists it. */
  const expectedListing = async (pods: { containerId: string; ips: string[] }[]) => {
    await expected.exec(['nft', 'flush', 'ruleset']);
    const elements = pods.flatMap((p) => podElements(hostVethName(p.containerId, 'eth0'), p.ips.map((ip) => { const c = parseCidr(ip)!; return { family: c.family, value: c.address }; })));
    await execIn(expected.path, ['nft', '-f', '-'], renderInstall(ruleset) + renderElements(ruleset, 'add', elements));
    return listing(expected);
  };
  const ipsOf = (result: Record<string, any>) => result.ips.map((ip: { address: string }) => ip.address);

  test('ADD: exactly the pod\'s elements; a second pod adds its own; DEL of one leaves the other\'s', async () => {
    const conf = node.conf({ ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] } });
    const a = await node.add(await node.pod(), 'pod-a', conf);
    assert.equal(await listing(node), await expectedListing([{ containerId: 'pod-a', ips: ipsOf(a) }]));
    const b = await node.add(await node.pod(), 'pod-b', conf);
    assert.equal(await listing(node), await expectedListing([{ containerId: 'pod-a', ips: ipsOf(a) }, { containerId: 'pod-b', ips: ipsOf(b) }]));
    const del = await node.cni({ command: 'DEL', containerId: 'pod-a', netns: a.interfaces[2].sandbox, ifname: 'eth0', conf });
    assert.equal(del.exitCode, 0, del.stdout);
    assert.equal(await listing(node), await expectedListing([{ containerId: 'pod-b', ips: ipsOf(b) }]));
    const again = await node.cni({ command: 'DEL', containerId: 'pod-a', netns: a.interfaces[2].sandbox, ifname: 'eth0', conf });
    assert.equal(again.exitCode, 0, again.stdout);
    const last = await node.cni({ command: 'DEL', containerId: 'pod-b', netns: b.interfaces[2].sandbox, ifname: 'eth0', conf });
    assert.equal(last.exitCode, 0, last.stdout);
    assert.equal(await listing(node), await expectedListing([]), 'no element refers to a deleted port');
  });

  test('"antiSpoofing": false installs nothing', async () => {
    const other = await TestNode.create();
    try {
      const conf = other.conf({ antiSpoofing: false });
      const pod = await other.pod();
      await other.add(pod, 'pod-off', conf);
      assert.equal((await other.exec(['nft', 'list', 'ruleset'])).stdout, '');
      const del = await other.cni({ command: 'DEL', containerId: 'pod-off', netns: pod, ifname: 'eth0', conf });
      assert.equal(del.exitCode, 0, del.stdout);
    } finally {
      await other.cleanup();
    }
  });
});

/**
 * A node whose kernel has no nf_tables netlink at all, simulated for the plugin alone: a seccomp
 * filter (installed by this wrapper with prctl, then inherited by the plugin it execs) makes
 * socket(AF_NETLINK, *, NETLINK_NETFILTER) fail with EPROTONOSUPPORT, what such a kernel answers
 * (net/netlink/af_netlink.c: no protocol registered). Every other system call, rtnetlink's socket
 * included, is allowed, so everything else of ADD runs for real. x86_64 only (the syscall number).
 */
const WITHOUT_NFNETLINK = String.raw`
import ctypes, os, struct, sys
AUDIT_ARCH_X86_64, SYS_SOCKET, AF_NETLINK, NETLINK_NETFILTER, EPROTONOSUPPORT = 0xc000003e, 41, 16, 12, 93
ALLOW, ERRNO = 0x7fff0000, 0x00050000
LD, JEQ, RET = 0x20, 0x15, 0x06   # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
# struct seccomp_data: nr at 0, arch at 4, args[0] at 16, args[2] at 32 (low 32 bits, little-endian)
program = [(LD, 0, 0, 4), (JEQ, 1, 0, AUDIT_ARCH_X86_64), (RET, 0, 0, ALLOW),
           (LD, 0, 0, 0), (JEQ, 0, 5, SYS_SOCKET),
           (LD, 0, 0, 16), (JEQ, 0, 3, AF_NETLINK),
           (LD, 0, 0, 32), (JEQ, 0, 1, NETLINK_NETFILTER),
           (RET, 0, 0, ERRNO | EPROTONOSUPPORT), (RET, 0, 0, ALLOW)]
filters = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in program))
fprog = struct.pack('HxxxxxxQ', len(program), ctypes.addressof(filters))
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) != 0:
    sys.exit('seccomp: ' + os.strerror(ctypes.get_errno()))
plugin = sys.argv[1]
os.execv(plugin, [plugin])
`;

describe('a node without nf_tables', { skip: skipUnlessRoot || (process.arch !== 'x64' && 'the seccomp filter is written for x86_64') }, () => {
  let node: TestNode;
  let plugin: string;
  before(async () => {
    node = await TestNode.create();
    // The harness execs one path with no arguments: a script that runs the wrapper on the plugin.
    const wrapper = path.join(node.dir, 'without-nfnetlink.py');
    fs.writeFileSync(wrapper, WITHOUT_NFNETLINK);
    plugin = path.join(node.dir, 'bridgeway-without-nfnetlink');
    fs.writeFileSync(plugin, `#!/bin/sh\nexec /usr/bin/python3 ${wrapper} ${PLUGIN}\n`, { mode: 0o755 });
  });
  after(async () => node?.cleanup());

  test('ADD fails with code 11 (try again later) naming the cause and the way out, and leaves nothing; with antiSpoofing false the same node works', async () => {
    const pod = await node.pod();
    const conf = node.conf();
    const res = await node.cni({ command: 'ADD', containerId: 'c-nonft', netns: pod, ifname: 'eth0', conf, plugin });
    assert.equal(res.exitCode, 1, res.stdout + res.stderr);
    assert.equal(res.json?.code, 11, res.stdout);
    assert.match(res.json?.msg, /^anti-spoofing needs nf_tables with the bridge family on the node \(nf_tables: .*Protocol not supported.*\).*"antiSpoofing": false/);
    assert.deepEqual(node.reservedAddresses(), [], 'no address kept');
    assert.deepEqual((await node.links()).filter((l) => l.startsWith('bw')), [], 'no host veth kept');
    assert.deepEqual(await node.links(pod), ['lo'], 'nothing in the pod');
    // The filter takes only nfnetlink away: rtnetlink works, and a network without the protection is made.
    const off = node.conf({ antiSpoofing: false });
    const ok = await node.cni({ command: 'ADD', containerId: 'c-nonft', netns: pod, ifname: 'eth0', conf: off, plugin });
    assert.equal(ok.exitCode, 0, ok.stdout);
    assert.equal(await node.ping(pod, '10.99.0.1'), true);
    // DEL of a protected network on such a node: there can be no elements, so nothing to remove.
    const del = await node.cni({ command: 'DEL', containerId: 'c-nonft', netns: pod, ifname: 'eth0', conf, plugin });
    assert.equal(del.exitCode, 0, del.stdout);
    assert.deepEqual(node.reservedAddresses(), []);
  });
});

describe('a pod namespace that would not derive its link-local address from its MAC', { skip: skipUnlessRoot }, () => {
  let node: TestNode;
  before(async () => {
    node = await TestNode.create();
  });
  after(async () => node?.cleanup());

  /** The pod's link-local addresses on eth0, once none is tentative any more (DAD done). */
  const linkLocals = async (pod: string): Promise<string[]> => {
    await poll(async () => (await node.exec(['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'tentative'], pod)).stdout === '', { what: 'DAD of the pod\'s addresses' });
    const [eth0] = await node.ipJson(['-6', 'addr', 'show', 'dev', 'eth0'], pod);
    return (eth0?.addr_info ?? []).filter((a: { scope?: string }) => a.scope === 'link').map((a: { local: string }) => a.local);
  };

  test('default addr_gen_mode 3 (random): ADD gives eth0 the EUI-64 link-local address its port allows, ND from it works both ways, CHECK verifies the mode', async () => {
    const pod = await node.pod();
    await node.exec(['sysctl', '-q', '-w', 'net.ipv6.conf.default.addr_gen_mode=3'], pod);
    const conf = node.conf({ ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] } });
    const result = await node.add(pod, 'c-agm', conf);
    const mac = result.interfaces[2].mac as string;
    const eui64 = formatIp(linkLocalFromMac(mac));
    assert.deepEqual(await linkLocals(pod), [eui64], 'the one link-local address is the one derived from the MAC');
    assert.equal((await node.exec(['cat', '/proc/sys/net/ipv6/conf/eth0/addr_gen_mode'], pod)).stdout.trim(), '0');
    // Neighbour discovery from and to the link-local address, afresh: the pod solicits the
    // bridge's fe80::1 from it, and the node solicits it and gets its advertisement back, both
    // through the pod's port.
    await node.exec(['ip', 'neigh', 'flush', 'dev', 'eth0'], pod);
    assert.equal(await node.ping(pod, 'fe80::1%eth0'), true, 'the pod reaches the bridge\'s link-local address from its own');
    assert.equal(await node.ping(node.path, `${eui64}%cni0`), true, 'the node reaches the pod\'s link-local address');
    assert.equal(await node.ping(pod, 'fd00:99::1'), true, 'and the gateway');
    const check = await node.cni({ command: 'CHECK', containerId: 'c-agm', netns: pod, ifname: 'eth0', conf: { ...conf, prevResult: result } });
    assert.equal(check.exitCode, 0, check.stdout);
    // The mode turned back after ADD: CHECK names it.
    await node.exec(['sh', '-c', 'echo 3 > /proc/sys/net/ipv6/conf/eth0/addr_gen_mode'], pod);
    const drifted = await node.cni({ command: 'CHECK', containerId: 'c-agm', netns: pod, ifname: 'eth0', conf: { ...conf, prevResult: result } });
    assert.equal(drifted.json?.code, 101, drifted.stdout);
    assert.match(drifted.json?.msg, /the pod's net\.ipv6\.conf\.eth0\.addr_gen_mode is 3, expected 0/);
  });

  test('with "antiSpoofing": false the pod keeps its namespace\'s mode (nothing filters its link-local address)', async () => {
    const pod = await node.pod();
    await node.exec(['sysctl', '-q', '-w', 'net.ipv6.conf.default.addr_gen_mode=3'], pod);
    const result = await node.add(pod, 'c-agm-off', node.conf({ antiSpoofing: false, ipam: { ranges: [[{ subnet: '10.99.0.0/24' }], [{ subnet: 'fd00:99::/64' }]] } }));
    const eui64 = formatIp(linkLocalFromMac(result.interfaces[2].mac));
    const addresses = await linkLocals(pod);
    assert.equal(addresses.length, 1);
    assert.notEqual(addresses[0], eui64, 'a random link-local address, not the EUI-64 one');
  });
});
