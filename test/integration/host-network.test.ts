// The agent's two ways to its node's networking (daemonset/host/network.ts) against each other on
// the real kernel: rtnetlink from the process (what the Bun executable uses; run by Bun here,
// host-network-bun-entry.ts) must read the same interfaces and main table as `ip -j` does, and
// the same route changes must leave the same table, tolerating and refusing the same things.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { iproute2Network } from '../../daemonset/host/network.ts';
import type { RouteChange } from '../../daemonset/routes/plan.ts';
import { createRunner, type Runner } from '../../lib/exec.ts';
import { KernelChangeError } from '../../lib/kernel/errors.ts';
import { execIn } from '../support/exec-in.ts';
import { Lab, reportProblems, uniquePrefix } from '../support/lab.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUN = path.join(ROOT, 'node_modules/.bin/bun');
const ENTRY = path.join(import.meta.dirname, 'host-network-bun-entry.ts');
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : !fs.existsSync(BUN) && `${BUN} is missing: run npm ci`;
const run = createRunner();

/** A runner whose commands run inside the namespace (what the agent's runner does in its own). */
function runnerIn(netnsPath: string): Runner {
  return (argv, options) => run(['nsenter', `--net=${netnsPath}`, '--', ...argv], options);
}

async function viaNetlink(netnsPath: string, operations: string[]): Promise<any[]> {
  const { stdout } = await run([BUN, ENTRY, netnsPath, ...operations]);
  return stdout.trim().split('\n').map((line) => JSON.parse(line));
}

/** A node: eth1 (a veth whose peer is in the same namespace) with IPv4 and IPv6, a default route, a foreign route, one of ours. */
async function makeNode(ns: string): Promise<void> {
  for (const line of [
    'link add eth1 type veth peer name peer1', 'link set eth1 up', 'link set peer1 up',
    'addr add 192.168.7.1/24 dev eth1', 'addr add fd00:7::1/64 dev eth1 nodad',
    'route add default via 192.168.7.254 dev eth1',
    'route add 10.9.0.0/24 via 192.168.7.9 dev eth1 proto static',
    'route add 10.1.0.0/24 via 192.168.7.2 dev eth1 proto 77',
    'route add fd00:10:1::/64 via fd00:7::2 dev eth1 proto 77',
  ]) await execIn(ns, ['ip', ...line.split(' ')]);
}

const CHANGES: RouteChange[] = [
  { op: 'add-route', dst: '10.2.0.0/24', via: '192.168.7.3', dev: 'eth1' },
  { op: 'add-route', dst: '10.1.0.0/24', via: '192.168.7.2', dev: 'eth1' }, // exists: tolerated
  { op: 'replace-route', dst: '10.1.0.0/24', via: '192.168.7.4', dev: 'eth1' },
  { op: 'add-route', dst: 'fd00:10:2::/64', via: 'fd00:7::3', dev: 'eth1' },
  { op: 'delete-route', dst: 'fd00:10:1::/64' },
  { op: 'delete-route', dst: '10.7.0.0/24' }, // missing: tolerated
  { op: 'delete-route', dst: '10.9.0.0/24' }, // someone else's (proto static): not ours, so "missing", and left alone
];

describe('the agent\'s rtnetlink and iproute2 backends agree', { skip }, () => {
  const lab = new Lab(uniquePrefix('bwhn')).cleanupOnSignals();
  let netlinkNs = '';
  let ipNs = '';
  before(async () => {
    const [a, b] = await lab.addNamespaces(['netlink', 'ip'], { loopbackUp: true });
    [netlinkNs, ipNs] = [lab.netnsPath(a!), lab.netnsPath(b!)];
    await makeNode(netlinkNs);
    await makeNode(ipNs);
  });
  after(() => reportProblems(lab.cleanup()));

  const read = async () => {
    const [fromNetlink] = await viaNetlink(netlinkNs, ['read']);
    const fromIp = JSON.parse(JSON.stringify(await iproute2Network(runnerIn(ipNs)).read(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    return { fromNetlink, fromIp };
  };

  test('the same interfaces (addresses, MTU, up) and the same main table of both families', async () => {
    const { fromNetlink, fromIp } = await read();
    assert.deepEqual(fromNetlink, fromIp);
    const eth1 = fromNetlink.links.find((l: any) => l.name === 'eth1');
    assert.deepEqual({ ipv4: eth1.ipv4.length, ipv6: eth1.ipv6.length, up: eth1.up }, { ipv4: 1, ipv6: 1, up: true }, 'link-local IPv6 left out');
    const routes = fromNetlink.mainTable.map((r: any) => `${r.dst} ${r.gateway ?? '-'} ${r.protocol ?? 'boot'}`);
    for (const expected of ['0.0.0.0/0 192.168.7.254 boot', '10.9.0.0/24 192.168.7.9 static', '10.1.0.0/24 192.168.7.2 77', 'fd00:10:1::/64 fd00:7::2 77', '192.168.7.0/24 - kernel']) {
      assert.ok(routes.includes(expected), `${expected} in ${routes.join(', ')}`);
    }
  });

  test('the same changes leave the same table; "exists" on add and "missing" on delete are tolerated, someone else\'s route is not ours to delete', async () => {
    assert.deepEqual(await viaNetlink(netlinkNs, ['change', JSON.stringify(CHANGES)]), [{ ok: true }]);
    await iproute2Network(runnerIn(ipNs)).changeRoutes(CHANGES);
    const { fromNetlink, fromIp } = await read();
    assert.deepEqual(fromNetlink.mainTable, fromIp.mainTable);
    const routes = fromNetlink.mainTable.map((r: any) => `${r.dst} ${r.gateway ?? '-'} ${r.protocol ?? 'boot'}`);
    assert.ok(routes.includes('10.1.0.0/24 192.168.7.4 77') && routes.includes('10.2.0.0/24 192.168.7.3 77') && routes.includes('fd00:10:2::/64 fd00:7::3 77'), routes.join(', '));
    assert.ok(!routes.some((r: string) => r.startsWith('fd00:10:1::/64')), 'deleted');
    assert.ok(routes.includes('10.9.0.0/24 192.168.7.9 static'), 'a foreign route is never deleted');
  });

  test('a change the kernel refuses fails, named as an admin would type it, and the others still apply', async () => {
    const changes: RouteChange[] = [
      { op: 'add-route', dst: '10.3.0.0/24', via: '172.31.0.1', dev: 'eth1' }, // not on eth1's subnet
      { op: 'add-route', dst: '10.4.0.0/24', via: '192.168.7.5', dev: 'eth1' },
    ];
    const [outcome] = await viaNetlink(netlinkNs, ['change', JSON.stringify(changes)]);
    assert.match(outcome.error, /^rtnetlink: ip route add 10\.3\.0\.0\/24 via 172\.31\.0\.1 dev eth1 proto 77: /);
    assert.deepEqual(outcome.failures.map((f: any) => f.what), ['ip route add 10.3.0.0/24 via 172.31.0.1 dev eth1 proto 77']);
    const viaIp = await iproute2Network(runnerIn(ipNs)).changeRoutes(changes).then(() => undefined, (error: unknown) => error);
    assert.ok(viaIp instanceof KernelChangeError, 'iproute2 refuses it too');
    const { fromNetlink, fromIp } = await read();
    assert.deepEqual(fromNetlink.mainTable, fromIp.mainTable);
    assert.ok(fromNetlink.mainTable.some((r: any) => r.dst === '10.4.0.0/24'), 'the next change was applied');
  });

  test('deleting links: present ones go, missing ones are no error', async () => {
    await execIn(netlinkNs, ['ip', 'link', 'add', 'br-x', 'type', 'bridge']);
    const entry = `import { netlinkNetwork } from ${JSON.stringify(path.join(ROOT, 'daemonset/host/network.ts'))};
import { loadLibc, NETLINK_ROUTE, NetlinkSocket } from ${JSON.stringify(path.join(ROOT, 'lib/netlink/socket.ts'))};
const libc = loadLibc()!;
await netlinkNetwork(() => NetlinkSocket.open(libc, NETLINK_ROUTE, ${JSON.stringify(netlinkNs)})).deleteLinksIfPresent(['br-x', 'br-missing']);`;
    const file = path.join(lab.subdir('entry'), 'delete.ts');
    fs.writeFileSync(file, entry);
    await run([BUN, file]);
    await assert.rejects(execIn(netlinkNs, ['ip', 'link', 'show', 'br-x']), /does not exist/);
  });
});
