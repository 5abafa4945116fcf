// Issue 20, the bridged LAN: "uplink" on a bridge network, against the real kernel with the built
// executable. Two nodes whose eth1 sit on one switch namespace with an outside host (the LAN's
// router, 192.168.77.1); node A's eth1 carries its address, its default route and a static route
// of both families. Everything lives in one Lab with a per-run prefix, removed in finally.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import { execIn, ipJsonIn, pings } from '../support/exec-in.ts';
import { Lab, reportProblems, uniquePrefix } from '../support/lab.ts';
import { AGENT } from '../support/cluster.ts';
import { PLUGIN, skipUnlessAgent } from './harness.ts';

const BRIDGE = 'br-lan';

interface Lan {
  lab: Lab;
  switch: string;
  a: string;
  b: string;
  outside: string;
  dataDir: string;
  logFile: string;
  conf(extra?: Record<string, unknown>): Record<string, unknown>;
}

async function withLan<T>(fn: (lan: Lan) => Promise<T>): Promise<T> {
  const lab = new Lab(uniquePrefix('bwu')).cleanupOnSignals();
  try {
    const [sw, a, b, outside] = (await lab.addNamespaces(['sw', 'a', 'b', 'out'], { loopbackUp: true })).map((n) => lab.netnsPath(n)) as [string, string, string, string];
    const swName = path.basename(sw);
    await execIn(sw, ['ip', 'link', 'add', 'sw0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await execIn(sw, ['ip', 'link', 'set', 'sw0', 'up']);
    await lab.addVeth({ netns: swName, name: 'pa', master: 'sw0' }, { netns: path.basename(a), name: 'eth1', address: '192.168.77.10/24' });
    await lab.addVeth({ netns: swName, name: 'pb', master: 'sw0' }, { netns: path.basename(b), name: 'eth1', address: '192.168.77.11/24' });
    await lab.addVeth({ netns: swName, name: 'po', master: 'sw0' }, { netns: path.basename(outside), name: 'eth0', address: '192.168.77.1/24' });
    for (const [ns, dev, v6] of [[a, 'eth1', 'fd77::10/64'], [b, 'eth1', 'fd77::11/64'], [outside, 'eth0', 'fd77::1/64']] as const) {
      await execIn(ns, ['ip', '-6', 'addr', 'add', v6, 'dev', dev, 'nodad']);
    }
    // Node A's eth1 carries the node: its default routes, and a static route with its own protocol and metric.
    await execIn(a, ['ip', 'route', 'add', 'default', 'via', '192.168.77.1', 'dev', 'eth1']);
    await execIn(a, ['ip', 'route', 'add', '10.77.0.0/16', 'via', '192.168.77.1', 'dev', 'eth1', 'proto', 'static', 'metric', '50']);
    await execIn(a, ['ip', '-6', 'route', 'add', 'default', 'via', 'fd77::1', 'dev', 'eth1']);
    const dataDir = path.join(lab.dir, 'data');
    const logFile = path.join(lab.dir, 'cni.log');
    const conf = (extra: Record<string, unknown> = {}) => ({
      cniVersion: '1.1.0', name: 'lan', type: 'bridgeway', bridge: BRIDGE, uplink: 'eth1', uplinkTakeover: true, dataDir, logFile, logLevel: 'debug',
      ipam: { subnet: '192.168.77.0/24', rangeStart: '192.168.77.100', rangeEnd: '192.168.77.120', gateway: '192.168.77.1' },
      ...extra,
    });
    return await fn({ lab, switch: sw, a, b, outside, dataDir, logFile, conf });
  } finally {
    reportProblems(lab.cleanup());
  }
}

interface PluginRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  json?: Record<string, any>;
}

/** The plugin as a runtime runs it, in the node's namespace; `wrap` runs it under another command (unshare). */
function plugin(node: string, inv: { command: string; containerId?: string; netns?: string; conf: object; env?: Record<string, string>; wrap?: string[]; executable?: string }): Promise<PluginRun> {
  const env: Record<string, string> = { PATH: SYSTEM_PATH, CNI_COMMAND: inv.command, CNI_PATH: '/usr/lib/cni', CNI_IFNAME: 'eth0', ...inv.env };
  if (inv.containerId) env.CNI_CONTAINERID = inv.containerId;
  if (inv.netns) env.CNI_NETNS = inv.netns;
  const argv = [...(inv.wrap ?? []), '/usr/bin/nsenter', `--net=${node}`, '--', inv.executable ?? PLUGIN];
  const child = spawn(argv[0]!, argv.slice(1), { env });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, any> | undefined;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ exitCode: code ?? -1, stdout, stderr, json });
    });
    child.stdin.end(JSON.stringify(inv.conf));
  });
}

async function add(lan: Lan, node: string, containerId: string, pod: string, conf = lan.conf()): Promise<Record<string, any>> {
  const res = await plugin(node, { command: 'ADD', containerId, netns: pod, conf });
  assert.equal(res.exitCode, 0, `ADD ${containerId}: ${res.stdout} ${res.stderr}`);
  return res.json!;
}

/**
 * ADD as `add` does, under strace (execve only, filtered in the kernel with --seccomp-bpf so the
 * traced plugin runs at full speed across the ping flood) and with a PATH of one empty directory:
 * resolves with the result and every program executed, which must be nsenter and the plugin only.
 */
async function tracedAdd(lan: Lan, node: string, containerId: string, pod: string): Promise<{ result: Record<string, any>; programs: (string | undefined)[] }> {
  const trace = path.join(lan.lab.dir, `trace-${containerId}`);
  const emptyPath = lan.lab.subdir(`empty-path-${containerId}`);
  const wrap = ['/usr/bin/strace', '-f', '-qq', '--seccomp-bpf', '-e', 'trace=execve', '-e', 'signal=none', '-o', trace];
  const res = await plugin(node, { command: 'ADD', containerId, netns: pod, conf: lan.conf(), env: { PATH: emptyPath }, wrap });
  assert.equal(res.exitCode, 0, `ADD ${containerId}: ${res.stdout} ${res.stderr}`);
  const programs = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => l.includes('execve(') && !l.includes('ENOENT')).map((l) => /execve\("([^"]+)"/.exec(l)?.[1]);
  return { result: res.json!, programs };
}

/** What the move must keep and what it changes: each link's addresses, master and MAC, and the main tables. */
async function snapshot(node: string) {
  const links = (await ipJsonIn(node, ['-d', 'addr', 'show'])).map((l) => ({
    name: l.ifname,
    mac: l.address,
    master: l.master,
    alias: l.ifalias,
    addresses: (l.addr_info ?? []).filter((x: any) => x.scope !== 'link').map((x: any) => `${x.local}/${x.prefixlen}`).sort(),
  }));
  const routes = [...(await ipJsonIn(node, ['-4', 'route', 'show', 'table', 'main'])), ...(await ipJsonIn(node, ['-6', 'route', 'show', 'table', 'main']))]
    .filter((r) => !String(r.dst).startsWith('fe80') && r.protocol !== 'kernel')
    .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev} proto ${r.protocol ?? 'boot'} metric ${r.metric ?? 0}`)
    .sort();
  return { links: links.sort((x, y) => x.name.localeCompare(y.name)), routes };
}

const link = (snap: Awaited<ReturnType<typeof snapshot>>, name: string) => snap.links.find((l) => l.name === name);

/** `ping -i 0.01` from one namespace for `seconds`: packets sent and received. */
function flood(from: string, to: string, count: number): Promise<{ sent: number; received: number }> {
  return execIn(from, ['ping', '-q', '-i', '0.01', '-W', '1', '-c', String(count), to]).then(
    ({ stdout }) => parsePing(stdout),
    (error) => parsePing(String(error.stdout ?? '')),
  );
}

function parsePing(out: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  if (!m) throw new Error(`no ping summary in: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

describe('uplink: a bridge that holds the LAN NIC', { skip: skipUnlessAgent }, () => {
  test('the move keeps the node\'s addresses and routes, loses at most one ping, and puts pods on the LAN', (t) =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const eth1 = link(before, 'eth1')!;
      const [pod1, pod2] = (await lan.lab.addNamespaces(['p1', 'p2'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string, string];
      // A flood of pings between the nodes' addresses across the whole move.
      const pinging = flood(lan.b, '192.168.77.10', 300);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The move itself starts no process (issue 20: rtnetlink from the plugin's own process), with
      // no `ip` to be found anyway.
      const { result: first, programs } = await tracedAdd(lan, lan.a, 'c1', pod1);
      assert.deepEqual(programs, ['/usr/bin/nsenter', PLUGIN], 'the first ADD, which moves the NIC, executes nothing but the plugin');
      const { sent, received } = await pinging;
      t.diagnostic(`pings every 10 ms across the move: ${received} of ${sent} answered`);
      assert.ok(sent - received <= 1, `lost ${sent - received} of ${sent} pings during the move`);

      const after = await snapshot(lan.a);
      const bridge = link(after, BRIDGE)!;
      assert.deepEqual(bridge.addresses, eth1.addresses, 'the node\'s addresses are on the bridge');
      assert.equal(bridge.mac, eth1.mac, 'with the NIC\'s MAC');
      assert.equal(bridge.alias, 'bridgeway-uplink:eth1');
      assert.deepEqual(link(after, 'eth1')!.addresses, [], 'and no longer on the NIC');
      assert.equal(link(after, 'eth1')!.master, BRIDGE);
      assert.deepEqual(after.routes, before.routes.map((r) => r.replace('dev eth1', `dev ${BRIDGE}`)).sort(), 'every route, through the bridge');
      assert.equal(first.ips[0].address, '192.168.77.100/24');
      assert.equal(first.ips[0].gateway, '192.168.77.1');
      assert.equal(first.interfaces[0].mac, eth1.mac, 'the result reports the bridge\'s real MAC');

      // A second ADD finds the move complete in its in-process read, starts no process either, and changes nothing of the node.
      const second = await tracedAdd(lan, lan.a, 'c2', pod2);
      assert.deepEqual(second.programs, ['/usr/bin/nsenter', PLUGIN]);
      const moves = fs.readFileSync(lan.logFile, 'utf8').split('\n').filter((l) => l.includes('moving the uplink NIC'));
      assert.equal(moves.length, 1, 'only the first ADD moved anything');
      const again = await snapshot(lan.a);
      assert.deepEqual(again.routes, after.routes);
      assert.deepEqual(link(again, BRIDGE), bridge);

      // The pods are hosts of the LAN: the outside host and the other node reach them, and they the LAN's router.
      for (const from of [lan.outside, lan.b]) assert.ok(await pings(from, '192.168.77.100'), 'pod 1 reachable from the LAN');
      assert.ok(await pings(pod2, '192.168.77.1'), 'pod 2 reaches the router');
      const [route] = await ipJsonIn(pod1, ['route', 'show', 'default']);
      assert.equal(route.gateway, '192.168.77.1', 'the pod\'s default route is the LAN\'s router');
      // The node is still reachable at its address, from both families.
      assert.ok(await pings(lan.b, '192.168.77.10'));
      assert.ok(await pings(lan.outside, 'fd77::10'));
      assert.ok(await pings(lan.a, 'fd77::1'));
    }));

  test('every detail goes along and back: lifetimes, secondary, noprefixroute, scope, preferred source, onlink, protocols and metrics', () =>
    withLan(async (lan) => {
      // A DHCP-like secondary and IPv6 address counting down, an address without its prefix
      // route, and routes with a preferred source, onlink, a link scope and a protocol ip has no name for.
      for (const argv of [
        ['ip', 'addr', 'add', '192.168.77.30/24', 'dev', 'eth1', 'valid_lft', '3000', 'preferred_lft', '2000'],
        ['ip', 'addr', 'add', '192.168.78.10/24', 'dev', 'eth1', 'noprefixroute'],
        ['ip', '-6', 'addr', 'add', 'fd77::30/64', 'dev', 'eth1', 'nodad', 'valid_lft', '3000', 'preferred_lft', '2000'],
        ['ip', 'route', 'add', '10.88.0.0/16', 'via', '192.168.77.1', 'dev', 'eth1', 'src', '192.168.77.10', 'onlink'],
        ['ip', 'route', 'add', '10.99.0.0/24', 'dev', 'eth1', 'scope', 'link', 'proto', '99'],
        ['ip', '-6', 'route', 'add', 'fd88::/64', 'via', 'fd77::1', 'dev', 'eth1', 'proto', 'static', 'metric', '7'],
      ]) await execIn(lan.a, argv);
      const details = async (dev: string) => {
        const [l] = await ipJsonIn(lan.a, ['addr', 'show', 'dev', dev]);
        const addresses: { address: string; flags: string; broadcast?: string; scope?: string; lifetimes: 'forever' | number[] }[] = (l.addr_info ?? []).filter((x: any) => x.scope !== 'link').map((x: any) => ({
          address: `${x.local}/${x.prefixlen}`,
          flags: ['secondary', 'dynamic', 'noprefixroute'].filter((f) => x[f]).join(','),
          broadcast: x.broadcast,
          scope: x.scope,
          lifetimes: x.valid_life_time === 4294967295 ? 'forever' : [x.valid_life_time, x.preferred_life_time],
        })).sort((x: any, y: any) => x.address.localeCompare(y.address)); // the kernel lists IPv6 addresses newest first
        const routes = [...(await ipJsonIn(lan.a, ['-4', 'route', 'show', 'table', 'main', 'dev', dev])), ...(await ipJsonIn(lan.a, ['-6', 'route', 'show', 'table', 'main', 'dev', dev]))]
          .filter((r) => !String(r.dst).startsWith('fe80'))
          .map((r) => `${r.dst} via ${r.gateway} proto ${r.protocol ?? 'boot'} scope ${r.scope ?? 'global'} src ${r.prefsrc} metric ${r.metric ?? 0}${(r.flags ?? []).includes('onlink') ? ' onlink' : ''}`)
          .sort();
        return { addresses, routes };
      };
      // Lifetimes count down: the same within the seconds the test takes.
      const close = (a: Awaited<ReturnType<typeof details>>, b: Awaited<ReturnType<typeof details>>, what: string) => {
        assert.deepEqual(a.routes, b.routes, `${what}: routes`);
        assert.deepEqual(a.addresses.map((x) => ({ ...x, lifetimes: Array.isArray(x.lifetimes) ? 'finite' : x.lifetimes })), b.addresses.map((x) => ({ ...x, lifetimes: Array.isArray(x.lifetimes) ? 'finite' : x.lifetimes })), `${what}: addresses`);
        for (const [i, x] of a.addresses.entries()) {
          const y = b.addresses[i]!;
          if (Array.isArray(x.lifetimes)) for (const k of [0, 1]) assert.ok(Math.abs(x.lifetimes[k]! - (y.lifetimes as number[])[k]!) <= 15, `${what}: ${x.address} lifetimes ${x.lifetimes} vs ${y.lifetimes}`);
        }
      };
      const before = await details('eth1');
      assert.ok(before.addresses.some((a) => a.flags === 'secondary,dynamic'), JSON.stringify(before.addresses));
      const [pod] = (await lan.lab.addNamespaces(['p1'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      await add(lan, lan.a, 'c1', pod);
      const moved = await details(BRIDGE);
      close(moved, before, 'on the bridge');
      assert.deepEqual((await details('eth1')).addresses, []);
      assert.deepEqual((await ipJsonIn(lan.a, ['route', 'show', '192.168.78.0/24'])), [], 'noprefixroute kept: no prefix route for 192.168.78.10/24');
      // The release (uninstall, the iproute2 Kernel) gives every detail back.
      await execIn(lan.a, [AGENT, 'uninstall', '--cni-conf-dir', lan.lab.subdir('net.d'), '--cni-bin-dir', lan.lab.subdir('bin'), '--data-dir', lan.dataDir, '--cni-log-file', lan.logFile]);
      close(await details('eth1'), before, 'back on eth1');
    }));

  test('refused without uplinkTakeover when the NIC carries the default route: nothing changed, nothing reserved', () =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const [pod] = (await lan.lab.addNamespaces(['p1'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      const res = await plugin(lan.a, { command: 'ADD', containerId: 'c1', netns: pod, conf: lan.conf({ uplinkTakeover: false }) });
      assert.equal(res.exitCode, 1);
      assert.equal(res.json?.code, 7, res.stdout);
      assert.match(res.json?.msg, /eth1 carries the node's default route \(IPv4 default via 192\.168\.77\.1, IPv6 default via fd77::1\).*"uplinkTakeover": true/);
      assert.deepEqual(await snapshot(lan.a), before);
      assert.ok(!fs.existsSync(path.join(lan.dataDir, 'lan', 'ips')) || fs.readdirSync(path.join(lan.dataDir, 'lan', 'ips')).length === 0, 'no address reserved');
      assert.deepEqual((await ipJsonIn(pod, ['link', 'show'])).map((l) => l.ifname), ['lo']);
    }));

  test('refused when NetworkManager manages the NIC, with the nmcli recipe instead', () =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const [eth1] = await ipJsonIn(lan.a, ['link', 'show', 'eth1']);
      const [pod] = (await lan.lab.addNamespaces(['p1'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      // NetworkManager's device state file, in a mount namespace of the plugin's own: /run is a
      // fresh tmpfs there (with /run/netns bound back), so the host's /run is not touched.
      const keep = lan.lab.subdir('netns-keep');
      const script = [
        'set -e', `mount --rbind /run/netns ${keep}`, 'mount -t tmpfs tmpfs /run', 'mkdir -p /run/netns /run/NetworkManager/devices',
        `mount --rbind ${keep} /run/netns`, `printf '[device]\\nmanaged=true\\n' > /run/NetworkManager/devices/${eth1.ifindex}`, 'exec "$@"',
      ].join('\n');
      const wrap = ['/usr/bin/unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh'];
      const res = await plugin(lan.a, { command: 'ADD', containerId: 'c1', netns: pod, conf: lan.conf(), wrap });
      assert.equal(res.json?.code, 7, res.stdout + res.stderr);
      assert.match(res.json?.msg, /NetworkManager manages eth1.*nmcli connection add type bridge ifname br-lan/);
      assert.deepEqual(await snapshot(lan.a), before);
      // The same state file saying "managed=false" is no refusal (NetworkManager runs, but leaves eth1 alone).
      const unmanaged = script.replace('managed=true', 'managed=false');
      const ok = await plugin(lan.a, { command: 'ADD', containerId: 'c1', netns: pod, conf: lan.conf(), wrap: [...wrap.slice(0, 6), unmanaged, 'sh'] });
      assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr);
    }));

  test('a failure injected after any step of the move leaves the node as it was', (t) =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const [pod] = (await lan.lab.addNamespaces(['p1'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      let steps = 0;
      for (; steps < 40; steps++) {
        const res = await plugin(lan.a, { command: 'ADD', containerId: 'c1', netns: pod, conf: lan.conf(), env: { BRIDGEWAY_TEST_UPLINK_FAIL_AFTER: String(steps) } });
        if (res.exitCode === 0) break;
        assert.equal(res.json?.code, 103, res.stdout);
        assert.match(res.json?.msg, new RegExp(`injected failure after ${steps} steps.*the ${steps} steps before it were undone`));
        assert.deepEqual(await snapshot(lan.a), before, `after a failure following step ${steps}`);
        assert.deepEqual((await ipJsonIn(pod, ['link', 'show'])).map((l) => l.ifname), ['lo']);
        assert.ok(await pings(lan.b, '192.168.77.10'), `node A reachable after the failure following step ${steps}`);
      }
      t.diagnostic(`the move has ${steps} steps; a failure after each of them was undone`);
      assert.ok(steps >= 10, `the move had only ${steps} steps`);
      assert.equal(link(await snapshot(lan.a), 'eth1')!.master, BRIDGE, 'and without the fault the move completes');
    }));

  test('a VM\'s tap beside the pods: reachable, unguarded, left alone by GC and uninstall; uninstall gives eth1 back', (t) =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const [pod, vm] = (await lan.lab.addNamespaces(['p1', 'vm'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string, string];
      await add(lan, lan.a, 'c1', pod);
      // libvirt's part, not the plugin's: a vnetN port on the bridge (a veth stands in for the
      // tap, its other end in the VM's namespace).
      await execIn(lan.a, ['ip', 'link', 'add', 'vnet0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm]);
      await execIn(lan.a, ['ip', 'link', 'set', 'vnet0', 'master', BRIDGE, 'up']);
      await execIn(vm, ['ip', 'addr', 'add', '192.168.77.50/24', 'dev', 'eth0']);
      await execIn(vm, ['ip', 'link', 'set', 'eth0', 'up']);
      for (const [from, to] of [[lan.outside, '192.168.77.50'], [pod, '192.168.77.50'], [vm, '192.168.77.100'], [vm, '192.168.77.10'], [lan.b, '192.168.77.50']] as const) {
        assert.ok(await pings(from, to, 2), `${path.basename(from)} -> ${to}`);
      }
      // Anti-spoofing judges only the pods' ports: the VM may send from any address of its own
      // choosing, while a pod that takes an address IPAM did not give it is dropped at its port.
      await execIn(vm, ['ip', 'addr', 'add', '192.168.77.51/24', 'dev', 'eth0']);
      await execIn(vm, ['ping', '-c', '2', '-W', '2', '-I', '192.168.77.51', '192.168.77.1']);
      await execIn(pod, ['ip', 'addr', 'add', '192.168.77.61/24', 'dev', 'eth0']);
      await assert.rejects(execIn(pod, ['ping', '-c', '2', '-W', '1', '-I', '192.168.77.61', '192.168.77.1']), 'a pod sending as another address is dropped');
      const table = (await execIn(lan.a, ['nft', 'list', 'table', 'bridge', 'bridgeway'])).stdout;
      assert.doesNotMatch(table, /vnet0/, 'no element names the VM\'s port');

      // GC with no attachment wanted any more: the pod's veth goes, the VM's port is not ours and stays.
      const hostVeths = async () => (await ipJsonIn(lan.a, ['link', 'show', 'master', BRIDGE])).map((l) => l.ifname).sort();
      assert.equal((await hostVeths()).length, 3);
      const gc = await plugin(lan.a, { command: 'GC', conf: { ...lan.conf(), 'cni.dev/valid-attachments': [] } });
      assert.equal(gc.exitCode, 0, gc.stdout);
      assert.deepEqual(await hostVeths(), ['eth1', 'vnet0'], 'GC removed the pod\'s veth and left the VM\'s port on the bridge');
      assert.ok(await pings(lan.outside, '192.168.77.50'));

      // Uninstall, while the other node pings this one: eth1 gets its addresses and routes back.
      const confDir = lan.lab.subdir('net.d');
      const pinging = flood(lan.b, '192.168.77.10', 300);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const uninstall = () => execIn(lan.a, [AGENT, 'uninstall', '--cni-conf-dir', confDir, '--cni-bin-dir', lan.lab.subdir('bin'), '--data-dir', lan.dataDir, '--cni-log-file', lan.logFile]);
      const first = await uninstall();
      const { sent, received } = await pinging;
      t.diagnostic(`pings every 10 ms across uninstall: ${received} of ${sent} answered`);
      assert.ok(sent - received <= 1, `lost ${sent - received} of ${sent} pings during uninstall`);
      assert.match(first.stderr + first.stdout, /gave eth1 back its addresses and routes from br-lan; left br-lan in place with the ports that are not ours \(vnet0\), which reach each other but no longer the LAN/);
      const after = await snapshot(lan.a);
      assert.deepEqual(link(after, 'eth1'), { ...link(before, 'eth1'), master: undefined });
      assert.deepEqual(after.routes, before.routes, 'every route back through eth1');
      assert.deepEqual(link(after, BRIDGE)!.addresses, []);
      assert.equal(link(after, BRIDGE)!.alias, undefined, 'the kept bridge is no longer marked ours');
      assert.equal((await ipJsonIn(lan.a, ['link', 'show', 'vnet0']))[0].master, BRIDGE, 'the VM keeps its bridge');
      assert.ok(await pings(lan.b, '192.168.77.10'));
      assert.ok(await pings(lan.outside, 'fd77::10'));
      // Idempotent: nothing more to give back.
      const again = await uninstall();
      assert.match(again.stderr + again.stdout, /no bridge holds an uplink NIC of ours/);
      assert.deepEqual((await snapshot(lan.a)).routes, before.routes);
    }));

  test('uninstall without ports of others deletes the bridge', () =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const [pod] = (await lan.lab.addNamespaces(['p1'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      await add(lan, lan.a, 'c1', pod);
      const res = await execIn(lan.a, [AGENT, 'uninstall', '--cni-conf-dir', lan.lab.subdir('net.d'), '--cni-bin-dir', lan.lab.subdir('bin'), '--data-dir', lan.dataDir, '--cni-log-file', lan.logFile]);
      assert.match(res.stderr + res.stdout, /gave eth1 back its addresses and routes and deleted br-lan/);
      const after = await snapshot(lan.a);
      assert.equal(link(after, BRIDGE), undefined);
      assert.deepEqual(link(after, 'eth1'), link(before, 'eth1'));
      assert.deepEqual(after.routes, before.routes);
    }));

  test('the doctor names an uplink NIC that holds addresses again, and STP or a forward delay on its bridge', () =>
    withLan(async (lan) => {
      const [pod] = (await lan.lab.addNamespaces(['p1'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      await add(lan, lan.a, 'c1', pod);
      const nodesFile = path.join(lan.lab.dir, 'nodes.yaml');
      fs.writeFileSync(nodesFile, 'nodes:\n  - { name: a, podCIDR: 10.244.1.0/24, eth1IP: 192.168.77.10 }\n');
      const doctor = async () => {
        const argv = [AGENT, 'doctor', '--json', '--node-name', 'a', '--nodes-file', nodesFile, '--cluster-cidr', '10.244.0.0/16', '--iface', BRIDGE,
          '--cni-conf-dir', lan.lab.subdir('net.d'), '--cni-bin-dir', lan.lab.subdir('bin'), '--data-dir', lan.dataDir, '--cni-log-file', lan.logFile, '--health-addr', '127.0.0.1:9099'];
        const out = await execIn(lan.a, argv).then((r) => r.stdout, (e: { stdout: string }) => e.stdout);
        return (JSON.parse(out) as { findings: { severity: string; check: string; object: string; detail: string; fix?: string }[] }).findings.filter((f) => f.check === 'uplink');
      };
      const healthy = await doctor();
      assert.deepEqual(healthy.map((f) => [f.severity, f.object]), [['OK', 'eth1 on br-lan']]);

      await execIn(lan.a, ['ip', 'addr', 'add', '192.168.77.10/24', 'dev', 'eth1']);
      await execIn(lan.a, ['ip', 'link', 'set', 'dev', BRIDGE, 'type', 'bridge', 'forward_delay', '1500', 'stp_state', '1']);
      const findings = await doctor();
      const still = findings.find((f) => /eth1 still holds 192\.168\.77\.10\/24/.test(f.detail));
      assert.equal(still?.severity, 'WARN', JSON.stringify(findings));
      const delay = findings.find((f) => f.object === BRIDGE);
      assert.equal(delay?.severity, 'WARN');
      assert.match(delay!.detail, /STP is on and the forward delay is 15 s/);
      assert.equal(delay!.fix, `ip link set dev ${BRIDGE} type bridge stp_state 0 && ip link set dev ${BRIDGE} type bridge forward_delay 0`);

      // The next ADD finishes the move again: the NIC's address goes (it is on the bridge).
      await execIn(lan.a, ['ip', 'link', 'set', 'dev', BRIDGE, 'type', 'bridge', 'stp_state', '0']);
      await execIn(lan.a, ['ip', 'link', 'set', 'dev', BRIDGE, 'type', 'bridge', 'forward_delay', '0']);
      const [pod2] = (await lan.lab.addNamespaces(['p2'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string];
      await add(lan, lan.a, 'c2', pod2);
      assert.deepEqual((await doctor()).map((f) => f.severity), ['OK']);
    }));

  test('the same move with the bundle on Node (the iproute2 kernel), and its every-ADD check', () =>
    withLan(async (lan) => {
      const before = await snapshot(lan.a);
      const viaNode = path.join(lan.lab.dir, 'bridgeway-node');
      fs.writeFileSync(viaNode, `#!/bin/bash\nexec -a bridgeway ${process.execPath} ${path.resolve(PLUGIN + '.cjs')}\n`, { mode: 0o755 });
      const [pod1, pod2] = (await lan.lab.addNamespaces(['p1', 'p2'], { loopbackUp: true })).map((n) => lan.lab.netnsPath(n)) as [string, string];
      for (const [id, pod] of [['c1', pod1], ['c2', pod2]] as const) {
        const res = await plugin(lan.a, { command: 'ADD', containerId: id, netns: pod, conf: lan.conf(), executable: viaNode });
        assert.equal(res.exitCode, 0, res.stdout + res.stderr);
      }
      const after = await snapshot(lan.a);
      assert.deepEqual(link(after, BRIDGE)!.addresses, link(before, 'eth1')!.addresses);
      assert.deepEqual(after.routes, before.routes.map((r) => r.replace('dev eth1', `dev ${BRIDGE}`)).sort());
      assert.ok(await pings(lan.outside, '192.168.77.101'));
    }));
});
