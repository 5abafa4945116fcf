// Issue 20's macvlan mode against the real kernel and the built executable: a "switch" namespace
// whose bridge has a port per node (each node's eth1 is the other end) and one for an outside
// host, like two machines and a workstation on one LAN switch. Pods on the nodes get macvlans of
// eth1 in each of the kernel's modes, and the test proves the traffic each mode allows and
// blocks, that the LAN sees each pod's own MAC (announced at ADD, before any traffic), the host
// shim, and that bad input fails clearly with nothing left. Every namespace has the run's prefix
// and goes in finally.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execIn, ipJsonIn, run } from '../support/exec-in.ts';
import { Lab, reportProblems, uniquePrefix } from '../support/lab.ts';
import { PLUGIN, skipUnlessRoot, TestNode, type PluginRun } from './harness.ts';
import { AGENT } from '../support/cluster.ts';
import fs from 'node:fs';
import path from 'node:path';
import { hostShimName } from '../../lib/names.ts';

const SUBNET = '192.168.77.0/24';
const SUBNET6 = 'fd77::/64';

/**
 * An answer to a ping within a second, in up to `tries` pings. What must be reachable gets 3 (the
 * first may wait on a neighbour entry a blocked ping left failing); what must be blocked one each.
 */
async function reaches(from: string, address: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try {
      await execIn(from, ['ping', '-c', '1', '-W', '1', address]);
      return true;
    } catch {
      // next try
    }
  }
  return false;
}

/** Blocked: no answer to 2 pings (each a fresh ARP resolution at most a second long). */
async function blocked(from: string, address: string): Promise<boolean> {
  return !(await reaches(from, address, 2));
}

interface World {
  lab: Lab;
  switchNs: string;
  outside: string;
  nodes: Record<'a' | 'b' | 'c', TestNode>;
  /** The switch port of each node's eth1. */
  ports: Record<'a' | 'b' | 'c', string>;
}

let world: World;

/** The macvlan config of a node: its own slice of the LAN's range. */
function conf(node: TestNode, range: [string, string], extra: Record<string, unknown> = {}, v6?: [string, string]): Record<string, any> {
  const base = node.conf({ mode: 'macvlan', master: 'eth1', macvlanMode: 'bridge', ...extra });
  if (extra.mtu === undefined) delete base.mtu; // the master's, unless the case gives one
  base.ipam = v6
    ? { ranges: [[{ subnet: SUBNET, rangeStart: range[0], rangeEnd: range[1] }], [{ subnet: SUBNET6, rangeStart: v6[0], rangeEnd: v6[1] }]] }
    : { subnet: SUBNET, rangeStart: range[0], rangeEnd: range[1] };
  return { ...base, ...(extra.ipam ? { ipam: extra.ipam } : {}) };
}

const RANGE_A: [string, string] = ['192.168.77.100', '192.168.77.119'];
const RANGE_B: [string, string] = ['192.168.77.120', '192.168.77.139'];
const RANGE_C: [string, string] = ['192.168.77.140', '192.168.77.159'];

async function addOk(node: TestNode, pod: string, id: string, config: object): Promise<Record<string, any>> {
  const res = await node.cni({ command: 'ADD', containerId: id, netns: pod, ifname: 'eth0', conf: config });
  assert.equal(res.exitCode, 0, `ADD ${id}: ${res.stdout} ${res.stderr}`);
  return res.json!;
}

function podIp(result: Record<string, any>, family: 4 | 6 = 4): string {
  return result.ips.map((ip: any) => ip.address.split('/')[0]).find((a: string) => (family === 4) === !a.includes(':'));
}

/** A refused ADD: CNI error JSON with `code`, exit 1, and neither a reservation nor a link left. */
async function refused(node: TestNode, config: object, code: number, message: RegExp): Promise<PluginRun> {
  const pod = await node.pod();
  const before = node.reservedAddresses();
  const res = await node.cni({ command: 'ADD', containerId: `bad${Math.random().toString(36).slice(2, 8)}`, netns: pod, ifname: 'eth0', conf: config });
  assert.equal(res.exitCode, 1, res.stdout);
  assert.equal(res.json?.code, code, res.stdout);
  assert.match(res.json?.msg, message);
  assert.deepEqual(node.reservedAddresses(), before, 'no address left reserved');
  assert.deepEqual((await node.links(pod)).sort(), ['lo'], 'nothing left in the pod');
  assert.ok(!(await node.links()).some((l) => l.startsWith('bwshim')), 'no shim left');
  return res;
}

describe('macvlan mode (issue 20) on a switched LAN', { skip: skipUnlessRoot }, () => {
  before(async () => {
    const lab = new Lab(uniquePrefix('bwm')).cleanupOnSignals();
    const nodes = { a: await TestNode.create(), b: await TestNode.create(), c: await TestNode.create() };
    world = { lab, switchNs: '', outside: '', nodes, ports: { a: `${lab.prefix}a`.slice(-15), b: `${lab.prefix}b`.slice(-15), c: `${lab.prefix}c`.slice(-15) } };
    const [switchNs, outside] = await lab.addNamespaces(['sw', 'out'], { loopbackUp: true });
    world.switchNs = lab.netnsPath(switchNs!);
    world.outside = lab.netnsPath(outside!);
    await execIn(world.switchNs, ['ip', 'link', 'add', 'sw0', 'type', 'bridge']);
    // No STP/forward delay: a port forwards as soon as it is up.
    await execIn(world.switchNs, ['ip', 'link', 'set', 'sw0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await execIn(world.switchNs, ['ip', 'link', 'set', 'sw0', 'up']);
    for (const [key, address] of [['a', '192.168.77.11/24'], ['b', '192.168.77.12/24'], ['c', '192.168.77.13/24']] as const) {
      await lab.addVeth({ netns: switchNs!, name: world.ports[key], master: 'sw0' }, { netns: nodes[key].name, name: 'eth1', address });
      await nodes[key].exec(['ip', 'route', 'add', 'default', 'via', '192.168.77.1']);
    }
    await lab.addVeth({ netns: switchNs!, name: `${lab.prefix}o`.slice(-15), master: 'sw0' }, { netns: outside!, name: 'eth1', address: '192.168.77.2/24' });
    await execIn(world.outside, ['ip', 'addr', 'add', 'fd77::2/64', 'dev', 'eth1', 'nodad']);
    // The outside host records what it is told unasked: a gratuitous ARP and an unsolicited NA
    // create neighbour entries only with these on (the NA only on a router: forwarding).
    await execIn(world.outside, ['sysctl', '-qw', 'net.ipv4.conf.eth1.arp_accept=1', 'net.ipv6.conf.eth1.forwarding=1', 'net.ipv6.conf.eth1.accept_untracked_na=1']);
  });

  after(async () => {
    if (!world) return;
    for (const node of Object.values(world.nodes)) await node.cleanup();
    reportProblems(world.lab.cleanup());
  });

  test('bridge mode: the result, the pod\'s own MAC on the LAN (announced at ADD), siblings and pods of other nodes reach each other', async () => {
    const { a, b } = world.nodes;
    const [p1, p2] = await a.podBatch(2);
    const [q1] = await b.podBatch(1);
    const r1 = await addOk(a, p1!, 'br1', conf(a, RANGE_A, {}, ['fd77::100', 'fd77::1ff']));
    assert.deepEqual(r1.interfaces, [{ name: 'eth0', mac: '0a:58:c0:a8:4d:64', mtu: 1500, sandbox: p1 }]);
    assert.deepEqual(r1.ips, [
      { address: '192.168.77.100/24', gateway: '192.168.77.1', interface: 0 },
      { address: 'fd77::100/64', gateway: 'fd77::1', interface: 0 },
    ]);
    assert.deepEqual(r1.routes, [{ dst: '0.0.0.0/0', gw: '192.168.77.1' }, { dst: '::/0', gw: 'fd77::1' }]);
    const [link] = await ipJsonIn(p1!, ['-d', 'link', 'show', 'dev', 'eth0']);
    assert.equal(link.linkinfo.info_kind, 'macvlan');
    assert.equal(link.linkinfo.info_data.mode, 'bridge');
    assert.equal(link.address, '0a:58:c0:a8:4d:64');
    // Nothing of the pod's is in the node: the macvlan was born in the pod.
    assert.deepEqual((await a.links()).sort(), ['eth1', 'lo']);

    // The outside host learnt the pod's MAC from its announcements alone, before any traffic.
    const neighbours = await ipJsonIn(world.outside, ['neigh', 'show', 'dev', 'eth1']);
    assert.equal(neighbours.find((n) => n.dst === '192.168.77.100')?.lladdr, '0a:58:c0:a8:4d:64', JSON.stringify(neighbours));
    assert.equal(neighbours.find((n) => n.dst === 'fd77::100')?.lladdr, '0a:58:c0:a8:4d:64', JSON.stringify(neighbours));

    const r2 = await addOk(a, p2!, 'br2', conf(a, RANGE_A, {}, ['fd77::100', 'fd77::1ff']));
    const s1 = await addOk(b, q1!, 'bq1', conf(b, RANGE_B));
    assert.equal(podIp(s1), '192.168.77.120');
    assert.ok(await reaches(p1!, podIp(r2)), 'bridge-mode siblings reach each other');
    assert.ok(await reaches(p1!, podIp(r2, 6)), 'over IPv6 too');
    assert.ok(await reaches(p1!, podIp(s1)), 'a pod of another node, at its LAN address');
    assert.ok(await reaches(world.outside, podIp(r1)), 'the outside host reaches the pod');
    // Each pod answers with its own MAC, not its node's.
    const seen = await ipJsonIn(world.outside, ['neigh', 'show', 'dev', 'eth1']);
    assert.equal(seen.find((n) => n.dst === podIp(s1))?.lladdr ?? (await (async () => { await reaches(world.outside, podIp(s1)); return (await ipJsonIn(world.outside, ['neigh', 'show', 'dev', 'eth1'])).find((n) => n.dst === podIp(s1))?.lladdr; })()), s1.interfaces[0].mac);
    // The kernel's rule: the node cannot reach its own macvlan pods through the master.
    assert.ok(await blocked(a.path, podIp(r1)), 'without the host shim the node does not reach its pod');

    // CHECK passes, then names what changed.
    const check = await a.cni({ command: 'CHECK', containerId: 'br1', netns: p1, ifname: 'eth0', conf: { ...conf(a, RANGE_A, {}, ['fd77::100', 'fd77::1ff']), prevResult: r1 } });
    assert.equal(check.exitCode, 0, check.stdout);
    const wrongMode = await a.cni({ command: 'CHECK', containerId: 'br1', netns: p1, ifname: 'eth0', conf: { ...conf(a, RANGE_A, { macvlanMode: 'vepa' }, ['fd77::100', 'fd77::1ff']), prevResult: r1 } });
    assert.equal(wrongMode.json?.code, 101);
    assert.match(wrongMode.json?.msg, /bridge mode, the config says vepa/);

    // DEL removes the macvlan and releases the addresses, and again succeeds.
    for (let i = 0; i < 2; i++) {
      const del = await a.cni({ command: 'DEL', containerId: 'br2', netns: p2, ifname: 'eth0', conf: conf(a, RANGE_A, {}, ['fd77::100', 'fd77::1ff']) });
      assert.equal(del.exitCode, 0, del.stdout);
    }
    assert.deepEqual(await a.links(p2!), ['lo']);
    assert.deepEqual(a.reservedAddresses(), ['192.168.77.100']);
    for (const [node, id, pod, c] of [[a, 'br1', p1, conf(a, RANGE_A, {}, ['fd77::100', 'fd77::1ff'])], [b, 'bq1', q1, conf(b, RANGE_B)]] as const) {
      const del = await node.cni({ command: 'DEL', containerId: id, netns: pod, ifname: 'eth0', conf: c });
      assert.equal(del.exitCode, 0, del.stdout);
    }
  });

  test('private mode: siblings cannot reach each other, the LAN can reach both', async () => {
    const { a } = world.nodes;
    const [p1, p2] = await a.podBatch(2);
    const c = conf(a, RANGE_A, { macvlanMode: 'private' });
    const r1 = await addOk(a, p1!, 'pr1', c);
    const r2 = await addOk(a, p2!, 'pr2', c);
    assert.ok(await reaches(world.outside, podIp(r1)));
    assert.ok(await reaches(world.outside, podIp(r2)));
    assert.ok(await blocked(p1!, podIp(r2)), 'private siblings must not reach each other');
    for (const [id, pod] of [['pr1', p1], ['pr2', p2]] as const) assert.equal((await a.cni({ command: 'DEL', containerId: id, netns: pod, ifname: 'eth0', conf: c })).exitCode, 0);
  });

  test('vepa mode: siblings reach each other only when the switch port hairpins', async () => {
    const { a } = world.nodes;
    const [p1, p2] = await a.podBatch(2);
    const c = conf(a, RANGE_A, { macvlanMode: 'vepa' });
    await addOk(a, p1!, 've1', c);
    const r2 = await addOk(a, p2!, 've2', c);
    const hairpin = (on: boolean) => execIn(world.switchNs, ['bridge', 'link', 'set', 'dev', world.ports.a, 'hairpin', on ? 'on' : 'off']);
    try {
      await hairpin(false);
      assert.ok(await blocked(p1!, podIp(r2)), 'vepa siblings without a reflecting switch');
      await hairpin(true);
      for (const pod of [p1!, p2!]) await execIn(pod, ['ip', 'neigh', 'flush', 'all']);
      assert.ok(await reaches(p1!, podIp(r2)), 'vepa siblings through the hairpinning switch port');
      await hairpin(false);
      for (const pod of [p1!, p2!]) await execIn(pod, ['ip', 'neigh', 'flush', 'all']);
      assert.ok(await blocked(p1!, podIp(r2)), 'and not again once the hairpin is off');
    } finally {
      await hairpin(false);
    }
    for (const [id, pod] of [['ve1', p1], ['ve2', p2]] as const) assert.equal((await a.cni({ command: 'DEL', containerId: id, netns: pod, ifname: 'eth0', conf: c })).exitCode, 0);
  });

  test('passthru mode: one attachment takes the NIC; a second ADD fails clearly and leaves nothing', async () => {
    const { c: node } = world.nodes;
    const [p1] = await node.podBatch(1);
    const c = conf(node, RANGE_C, { macvlanMode: 'passthru' });
    const [nic] = await node.ipJson(['link', 'show', 'dev', 'eth1']);
    const r1 = await addOk(node, p1!, 'pt1', c);
    assert.equal(r1.interfaces[0].mac, nic.address, 'passthru keeps the NIC\'s MAC');
    assert.ok(await reaches(world.outside, podIp(r1)));
    await refused(node, c, 7, /passthru macvlan takes the NIC alone/);
    assert.equal((await node.cni({ command: 'DEL', containerId: 'pt1', netns: p1, ifname: 'eth0', conf: c })).exitCode, 0);
    assert.deepEqual(node.reservedAddresses(), []);
  });

  test('hostShim: the node reaches its bridge-mode pods through its own macvlan, and the LAN still reaches the node through eth1', async () => {
    const { b } = world.nodes;
    const [p1, p2] = await b.podBatch(2);
    const c = conf(b, RANGE_B, { hostShim: true });
    await addOk(b, p1!, 'sh1', c);
    const r2 = await addOk(b, p2!, 'sh2', c);
    const shim = hostShimName('eth1');
    const [link] = await b.ipJson(['-d', 'link', 'show', 'dev', shim]);
    assert.equal(link.linkinfo.info_data.mode, 'bridge');
    assert.equal(link.addr_info?.length ?? 0, 0);
    const routes = await b.ipJson(['route', 'show', 'dev', shim]);
    assert.deepEqual(routes.map((r) => `${r.dst} ${r.prefsrc}`), ['192.168.77.120/29 192.168.77.12', '192.168.77.128/29 192.168.77.12', '192.168.77.136/30 192.168.77.12']);
    assert.ok(await reaches(b.path, podIp(r2)), 'the node reaches its pod');
    assert.ok(await reaches(p2!, '192.168.77.12'), 'the pod reaches the node at its LAN address');
    // The LAN's ARP for the node is answered by eth1 alone (arp_filter on the shim).
    await execIn(world.outside, ['ip', 'neigh', 'flush', 'dev', 'eth1']);
    assert.ok(await reaches(world.outside, '192.168.77.12'));
    const [eth1] = await b.ipJson(['link', 'show', 'dev', 'eth1']);
    assert.equal((await ipJsonIn(world.outside, ['neigh', 'show', 'dev', 'eth1'])).find((n) => n.dst === '192.168.77.12')?.lladdr, eth1.address);
    for (const [id, pod] of [['sh1', p1], ['sh2', p2]] as const) assert.equal((await b.cni({ command: 'DEL', containerId: id, netns: pod, ifname: 'eth0', conf: c })).exitCode, 0);
    // Shared by the node's attachments: DEL leaves it; a later ADD finds it (idempotent).
    assert.ok((await b.links()).includes(shim));
    const r3 = await addOk(b, p1!, 'sh3', c);
    assert.ok(await reaches(b.path, podIp(r3)));
    assert.equal((await b.cni({ command: 'DEL', containerId: 'sh3', netns: p1, ifname: 'eth0', conf: c })).exitCode, 0);
    await b.exec(['ip', 'link', 'del', shim]);
  });

  test('the master defaults to the interface of the node\'s default route', async () => {
    const { a } = world.nodes;
    const [p1] = await a.podBatch(1);
    const c = conf(a, RANGE_A);
    delete c.master;
    const r1 = await addOk(a, p1!, 'dm1', c);
    assert.ok(await reaches(world.outside, podIp(r1)));
    assert.equal((await a.cni({ command: 'DEL', containerId: 'dm1', netns: p1, ifname: 'eth0', conf: c })).exitCode, 0);
  });

  test('GC releases the reservations of attachments the runtime no longer lists, and only those; STATUS says whether the master is up', async () => {
    const { a } = world.nodes;
    const [p1, p2] = await a.podBatch(2);
    const c = conf(a, RANGE_A);
    const kept = await addOk(a, p1!, 'gc1', c);
    await addOk(a, p2!, 'gc2', c);
    assert.equal(a.reservedAddresses().length, 2);
    await a.deleteNetns(p2!); // the runtime lost the pod: its macvlan went with its namespace
    const gc = await a.cni({ command: 'GC', conf: { ...c, 'cni.dev/valid-attachments': [{ containerID: 'gc1', ifname: 'eth0' }] } });
    assert.equal(gc.exitCode, 0, gc.stdout);
    assert.deepEqual(a.reservedAddresses(), [podIp(kept)]);
    assert.deepEqual(await a.links(p1!), ['lo', 'eth0']);
    assert.equal((await a.cni({ command: 'STATUS', conf: c })).exitCode, 0);
    await a.exec(['ip', 'link', 'set', 'eth1', 'down']);
    try {
      const status = await a.cni({ command: 'STATUS', conf: c });
      assert.equal(status.json?.code, 50);
      assert.match(status.json?.msg, /master eth1 is down/);
    } finally {
      await a.exec(['ip', 'link', 'set', 'eth1', 'up']);
      await a.exec(['ip', 'route', 'replace', 'default', 'via', '192.168.77.1']);
    }
    assert.equal((await a.cni({ command: 'DEL', containerId: 'gc1', netns: p1, ifname: 'eth0', conf: c })).exitCode, 0);
  });

  test('bad input: a CNI error with its code, exit 1, nothing reserved or made', async () => {
    const { a } = world.nodes;
    // A master that is nowhere, and one that exists, but in another namespace (the switch's).
    await refused(a, conf(a, RANGE_A, { master: 'nope0' }), 7, /master "nope0" is not an interface of the node's network namespace/);
    await execIn(world.switchNs, ['ip', 'link', 'add', 'lanx', 'type', 'veth', 'peer', 'name', 'lany']);
    await refused(a, conf(a, RANGE_A, { master: 'lanx' }), 7, /master "lanx" is not an interface of the node's network namespace .*another namespace/);
    await refused(a, conf(a, ['10.0.0.10', '10.0.0.20']), 7, /rangeStart 10\.0\.0\.10 is not a host address of 192\.168\.77\.0\/24/);
    await refused(a, conf(a, RANGE_A, { mtu: 9000 }), 7, /"mtu" 9000 is above the MTU of the master eth1 \(1500\)/);
    await refused(a, conf(a, RANGE_A, { macvlanMode: 'bridged' }), 7, /"macvlanMode" must be one of bridge, private, vepa, passthru/);
    await refused(a, conf(a, RANGE_A, { macvlanMode: 'private', hostShim: true }), 2, /hostShim.*private/);
    await refused(a, conf(a, RANGE_A, { antiSpoofing: true }), 2, /antiSpoofing/);
  });

  test('the doctor names the macvlan pains from a conflist in macvlan mode', async () => {
    const { a } = world.nodes;
    const confDir = path.join(a.dir, 'net.d');
    fs.mkdirSync(confDir, { recursive: true });
    const nodesFile = path.join(a.dir, 'nodes.json');
    fs.writeFileSync(nodesFile, JSON.stringify([{ name: 'node-a', podCIDR: '10.244.1.0/24', eth1IP: '192.168.77.11' }]));
    const writeConf = (plugin: Record<string, unknown>) =>
      fs.writeFileSync(path.join(confDir, '20-lan.conflist'), JSON.stringify({ cniVersion: '1.1.0', name: 'lan', plugins: [{ type: 'bridgeway', mode: 'macvlan', ipam: { subnet: SUBNET }, ...plugin }] }));
    const doctor = async () => {
      const result = await run(['nsenter', `--net=${a.path}`, '--', AGENT, 'doctor', '--json', '--node-name', 'node-a', '--nodes-file', nodesFile, '--cluster-cidr', '10.244.0.0/16',
        '--cni-conf-dir', confDir, '--cni-bin-dir', path.join(a.dir, 'bin'), '--data-dir', path.join(a.dir, 'ipam'), '--health-addr', '127.0.0.1:1']).catch((e) => e);
      return (JSON.parse(result.stdout) as { findings: { severity: string; check: string; object: string; detail: string; fix?: string }[] }).findings.filter((f) => f.check === 'macvlan');
    };
    writeConf({ master: 'eth1', macvlanMode: 'vepa', mtu: 9000 });
    const findings = await doctor();
    const by = (object: string) => findings.find((f) => f.object === object);
    assert.equal(by('macvlan network lan master eth1')?.severity, 'OK', JSON.stringify(findings));
    assert.equal(by('macvlan network lan mtu')?.severity, 'FAIL');
    assert.equal(by('macvlan network lan vepa')?.severity, 'WARN');
    assert.equal(by('macvlan network lan node-to-pod')?.severity, 'WARN');
    assert.match(by('macvlan network lan node-to-pod')!.fix!, /"hostShim": true/);
    await a.exec(['ip', 'link', 'set', 'eth1', 'down']);
    try {
      writeConf({ master: 'eth1', hostShim: true });
      const down = await doctor();
      assert.equal(down.find((f) => f.object === 'macvlan network lan master eth1')?.severity, 'FAIL');
      assert.equal(down.find((f) => f.object === 'macvlan network lan master eth1')?.fix, 'ip link set eth1 up');
    } finally {
      await a.exec(['ip', 'link', 'set', 'eth1', 'up']);
      await a.exec(['ip', 'route', 'replace', 'default', 'via', '192.168.77.1']);
    }
    writeConf({ master: 'eth7' });
    assert.deepEqual((await doctor()).map((f) => `${f.severity} ${f.object}`), ['FAIL macvlan network lan master eth7']);
  });

  test('the bundle on Node (iproute2, no packet socket) makes, checks and deletes the same macvlan; it only warns that it did not announce', async () => {
    const { a } = world.nodes;
    const viaNode = path.join(a.dir, 'bridgeway-on-node');
    // bin/role.ts picks the plugin by argv[0]'s name, which exec -a gives Node.
    fs.writeFileSync(viaNode, `#!/bin/bash\nexec -a bridgeway ${process.execPath} ${path.resolve(PLUGIN + '.cjs')}\n`, { mode: 0o755 });
    const [p1] = await a.podBatch(1);
    const c = conf(a, RANGE_A);
    const add = await a.cni({ command: 'ADD', containerId: 'nd1', netns: p1, ifname: 'eth0', conf: c, plugin: viaNode });
    assert.equal(add.exitCode, 0, add.stdout);
    const [link] = await ipJsonIn(p1!, ['-d', 'link', 'show', 'dev', 'eth0']);
    assert.deepEqual([link.linkinfo.info_kind, link.linkinfo.info_data.mode, link.address], ['macvlan', 'bridge', add.json!.interfaces[0].mac]);
    assert.ok(await reaches(world.outside, podIp(add.json!)));
    assert.match(fs.readFileSync(a.logFile, 'utf8'), /could not announce the pod's MAC/);
    const check = await a.cni({ command: 'CHECK', containerId: 'nd1', netns: p1, ifname: 'eth0', conf: { ...c, prevResult: add.json }, plugin: viaNode });
    assert.equal(check.exitCode, 0, check.stdout);
    assert.equal((await a.cni({ command: 'DEL', containerId: 'nd1', netns: p1, ifname: 'eth0', conf: c, plugin: viaNode })).exitCode, 0);
    assert.deepEqual(await a.links(p1!), ['lo']);
  });
});
