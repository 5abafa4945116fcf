// The anti-spoofing table against the real kernel. The plugin's nfnetlink path (run by Bun, as
// the plugin will run it: antispoof-bun-entry.ts) and `nft -f` of the text renderer
// (lib/antispoof/nft-text.ts) must leave the same table: `nft list` and `nft -j list` of the
// two namespaces are compared as they are. Then: installing twice, and twice at once, leaves one
// table; deleting the elements leaves none; and on a bridge in the namespace, a pod can no
// longer send from an address that is not its own while its real traffic still flows, while a
// pod that predates the table (an upgrade: a port with no elements) is not judged at all.
// Everything happens in namespaces of a per-run lab; the root namespace's ruleset is untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { renderElements, renderInstall, renderTable } from '../../lib/antispoof/nft-text.ts';
import { antispoofRuleset, attachmentElements } from '../../lib/antispoof/ruleset.ts';
import { parseIp } from '../../lib/cidr.ts';
import { elementId, parseListedTable } from '../../lib/antispoof/nft-json.ts';
import { execIn, ipJsonIn, pings, run } from '../support/exec-in.ts';
import { Lab, reportProblems, uniquePrefix } from '../support/lab.ts';
import { poll } from '../support/poll.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUN = path.join(ROOT, 'node_modules/.bin/bun');
const ENTRY = path.join(import.meta.dirname, 'antispoof-bun-entry.ts');
const ruleset = antispoofRuleset();
const ATTACHMENT = { port: 'bw0123456789ab', mac: '0a:58:0a:63:00:05', addresses: ['10.99.0.5', 'fd00:99::5'] };

/** Why this file cannot run here, or false. nf_tables' bridge family is probed in a namespace of its own. */
async function unavailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  if (!fs.existsSync(BUN)) return `${BUN} is missing: run npm ci`;
  try {
    await run(['nft', '--version']);
  } catch {
    return 'nft is missing: scripts/install-deps.sh installs nftables';
  }
  const lab = new Lab(uniquePrefix('bwnp'));
  try {
    const [probe] = await lab.addNamespaces(['probe']);
    await execIn(lab.netnsPath(probe!), ['nft', 'add table bridge probe']);
    return false;
  } catch (error) {
    return `this kernel has no nf_tables bridge family (nft add table bridge: ${(error as Error).message})`;
  } finally {
    reportProblems(lab.cleanup());
  }
}
const skip = await unavailable();
if (skip) process.stderr.write(`antispoof-nftables: skipped: ${skip}\n`);

/** The plugin's path: Bun with FFI, on the namespace at `netnsPath`. */
async function viaNetlink(netnsPath: string, operations: string[], attachment = ATTACHMENT): Promise<any[]> {
  const { stdout } = await run([BUN, ENTRY, netnsPath, JSON.stringify(attachment), ...operations]);
  return stdout.trim().split('\n').map((line) => JSON.parse(line));
}
const nft = (netnsPath: string, args: string[], input?: string) => execIn(netnsPath, ['nft', ...args], input);
const listing = async (netnsPath: string) => (await nft(netnsPath, ['list', 'table', 'bridge', ruleset.table])).stdout;
const jsonListing = async (netnsPath: string) => JSON.parse((await nft(netnsPath, ['-j', 'list', 'table', 'bridge', ruleset.table])).stdout).nftables;
const elementsText = (op: 'add' | 'delete', attachment = ATTACHMENT) =>
  renderElements(ruleset, op, attachmentElements({ ...attachment, addresses: attachment.addresses.map((a) => parseIp(a)!) }));

/** Each run of `\telement …` lines of `nft --debug=netlink` output, sorted. */
function sortElementLines(text: string): string {
  return text.replace(/(?:\telement [^\n]*\n)+/g, (run) => run.split(/(?<=\n)/).sort().join(''));
}

describe('the anti-spoofing table in the kernel', { skip }, () => {
  const lab = new Lab(uniquePrefix('bwnf')).cleanupOnSignals();
  let rootRuleset = '';
  let netlinkNs = '';
  let textNs = '';
  before(async () => {
    rootRuleset = (await run(['nft', 'list', 'ruleset'])).stdout;
    const [a, b] = await lab.addNamespaces(['netlink', 'text']);
    [netlinkNs, textNs] = [lab.netnsPath(a!), lab.netnsPath(b!)];
  });
  after(async () => {
    reportProblems(lab.cleanup());
    assert.equal((await run(['nft', 'list', 'ruleset'])).stdout, rootRuleset, 'the root namespace\'s ruleset changed');
  });

  test('the plugin\'s batch makes exactly the table the renderer spells', async () => {
    assert.deepEqual(await viaNetlink(netlinkNs, ['install']), [{ installed: true }]);
    assert.equal(await listing(netlinkNs), renderTable(ruleset));
  });

  test('with an attachment\'s elements, the same table as nft -f of the rendered text: nft list and nft -j', async () => {
    await viaNetlink(netlinkNs, ['add']);
    await nft(textNs, ['-f', '-'], renderInstall(ruleset) + elementsText('add'));
    const [fromNetlink, fromText] = [await listing(netlinkNs), await listing(textNs)];
    assert.equal(fromNetlink, fromText);
    assert.match(fromNetlink, /"bw0123456789ab" \. fe80::858:aff:fe63:5/);
    assert.deepEqual((await jsonListing(netlinkNs)).slice(1), (await jsonListing(textNs)).slice(1)); // [0] is nft's metainfo
    // The expressions as the kernel holds them, not only as nft prints them back.
    // Elements come in hash order, which is seeded per set: sorted within each set.
    const raw = async (ns: string) => sortElementLines((await nft(ns, ['--debug=netlink', 'list', 'table', 'bridge', ruleset.table])).stdout);
    assert.equal(await raw(netlinkNs), await raw(textNs));
  });

  test('read back over nfnetlink (GETSETELEM dumps): exactly the elements nft -j lists, for two attachments; none without a table', async () => {
    const second = { port: 'bwfedcba987654', mac: '0a:58:0a:63:00:09', addresses: ['fd00:99::9'] };
    await viaNetlink(netlinkNs, ['add'], second);
    try {
      const [{ listed }] = await viaNetlink(netlinkNs, ['list']);
      const oracle = parseListedTable((await nft(netlinkNs, ['-j', 'list', 'table', 'bridge', ruleset.table])).stdout, ruleset).elements.map(elementId).sort();
      assert.equal(oracle.length, 9 + 6, 'dual-stack: 9 elements; IPv6-only: port, MAC, two IPv6 and two ND targets');
      assert.deepEqual(listed, oracle);
    } finally {
      await viaNetlink(netlinkNs, ['delete'], second);
    }
    const [fresh] = await lab.addNamespaces(['empty']);
    assert.deepEqual(await viaNetlink(lab.netnsPath(fresh!), ['list']), [{ listed: [] }]);
  });

  test('installing again, and twice at once, succeeds and leaves one table, its rules once', async () => {
    const before = await listing(netlinkNs);
    assert.deepEqual(await viaNetlink(netlinkNs, ['install', 'add']), [{ installed: false }, { added: 9 }]);
    const [fresh] = await lab.addNamespaces(['race']);
    const raceNs = lab.netnsPath(fresh!);
    const results = await Promise.all([viaNetlink(raceNs, ['install', 'add']), viaNetlink(raceNs, ['install', 'add'])]);
    assert.deepEqual(results.map((r) => r[0].installed).sort(), [false, true], 'exactly one of the two made the table');
    assert.equal(await listing(raceNs), before);
    assert.equal(await listing(netlinkNs), before);
    const tables = (await jsonListing(raceNs)).filter((o: any) => o.table);
    assert.equal(tables.length, 1);
    const rules = (await jsonListing(raceNs)).filter((o: any) => o.rule).length;
    assert.equal(rules, ruleset.chains.reduce((n, c) => n + c.rules.length, 0));
  });

  test('deleting the elements leaves none; deleting again is no error', async () => {
    assert.deepEqual(await viaNetlink(netlinkNs, ['delete', 'delete']), [{ deleted: 9 }, { deleted: 9 }]);
    assert.equal(await listing(netlinkNs), renderTable(ruleset));
    // Some already gone (as after a crash half-way through a DEL): the rest still goes.
    await viaNetlink(netlinkNs, ['add']);
    await nft(netlinkNs, ['delete', 'element', 'bridge', ruleset.table, 'port_ipv4', '{ "bw0123456789ab" . 10.99.0.5 }']);
    await viaNetlink(netlinkNs, ['delete']);
    assert.equal(await listing(netlinkNs), renderTable(ruleset));
  });

  test('on a bridge: a pod\'s forged source address no longer reaches its neighbour; its real one does', async () => {
    const [node, pod1, pod2] = (await lab.addNamespaces(['node', 'pod1', 'pod2'], { loopbackUp: true })).map((n) => lab.netnsPath(n));
    await execIn(node!, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await execIn(node!, ['ip', 'link', 'set', 'br0', 'up']);
    const pods = [{ ns: pod1!, port: 'bwpod1', ip: '10.99.0.11', ip6: 'fd00:99::11' }, { ns: pod2!, port: 'bwpod2', ip: '10.99.0.12', ip6: 'fd00:99::12' }];
    for (const pod of pods) {
      await lab.addVeth({ netns: path.basename(node!), name: pod.port, master: 'br0' }, { netns: path.basename(pod.ns), name: 'eth0', address: `${pod.ip}/24` });
    }
    const forged = async () => {
      await execIn(pod1!, ['ip', 'addr', 'replace', '10.99.0.66/32', 'dev', 'eth0']);
      return execIn(pod1!, ['ping', '-c', '1', '-W', '2', '-I', '10.99.0.66', pods[1]!.ip]).then(() => true, () => false);
    };
    assert.ok(await pings(pod1!, pods[1]!.ip), 'the pods reach each other before the table');
    assert.ok(await forged(), 'control: without the table a forged source gets through');
    await execIn(pod1!, ['ip', 'addr', 'del', '10.99.0.66/32', 'dev', 'eth0']);

    for (const pod of pods) {
      const [link] = await ipJsonIn(pod.ns, ['link', 'show', 'eth0']);
      await viaNetlink(node!, ['install', 'add'], { port: pod.port, mac: link.address, addresses: [pod.ip, pod.ip6] });
    }
    assert.ok(await pings(pod1!, pods[1]!.ip, 2), 'real traffic still flows');
    assert.ok(!(await forged()), 'the forged source is dropped');
    assert.ok(await pings(pod2!, pods[0]!.ip), 'and the other way too');

    // IPv6 added only now: its DAD (a solicitation from ::), MLD, ND between the pods' own
    // addresses pass the table; a forged IPv6 source does not.
    for (const pod of pods) await execIn(pod.ns, ['ip', 'addr', 'add', `${pod.ip6}/64`, 'dev', 'eth0']);
    await poll(async () => (await execIn(pod1!, ['ip', '-6', 'addr', 'show', 'tentative'])).stdout + (await execIn(pod2!, ['ip', '-6', 'addr', 'show', 'tentative'])).stdout === '', { what: 'IPv6 DAD in both pods' });
    for (const pod of pods) assert.equal((await execIn(pod.ns, ['ip', '-6', 'addr', 'show', 'dadfailed'])).stdout, '', 'DAD passed');
    assert.ok(await pings(pod1!, pods[1]!.ip6, 2), 'IPv6 between the pods');
    await execIn(pod1!, ['ip', 'addr', 'add', 'fd00:99::66/128', 'dev', 'eth0', 'nodad']);
    const forged6 = await execIn(pod1!, ['ping', '-c', '1', '-W', '2', '-I', 'fd00:99::66', pods[1]!.ip6]).then(() => true, () => false);
    assert.ok(!forged6, 'the forged IPv6 source is dropped');
  });

  test('an upgrade: a pod older than the table keeps working, unprotected; a guarded pod\'s forgery is dropped; deleting its elements unguards it', async () => {
    const [node, old, guarded] = (await lab.addNamespaces(['upnode', 'upold', 'upguarded'], { loopbackUp: true })).map((n) => lab.netnsPath(n));
    await execIn(node!, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await execIn(node!, ['ip', 'link', 'set', 'br0', 'up']);
    const pods = { old: { ns: old!, port: 'bwupold', ip: '10.99.0.21', ip6: 'fd00:99::21', forged: '10.99.0.76' }, guarded: { ns: guarded!, port: 'bwupguarded', ip: '10.99.0.22', ip6: 'fd00:99::22', forged: '10.99.0.77' } };
    for (const pod of Object.values(pods)) {
      await lab.addVeth({ netns: path.basename(node!), name: pod.port, master: 'br0' }, { netns: path.basename(pod.ns), name: 'eth0', address: `${pod.ip}/24` });
      await execIn(pod.ns, ['ip', 'addr', 'add', `${pod.ip6}/64`, 'dev', 'eth0', 'nodad']);
    }
    // Every check starts from empty neighbour tables, so ARP and ND cross the table too.
    const flush = async () => { for (const pod of Object.values(pods)) await execIn(pod.ns, ['ip', 'neigh', 'flush', 'all']); };
    const reaches = async (from: typeof pods.old, to: typeof pods.old, family: 4 | 6 = 4) => {
      await flush();
      return pings(from.ns, family === 4 ? to.ip : to.ip6);
    };
    /** A ping from an address that is not the pod's: its echo request and its ARP for the reply both claim it. */
    const forges = async (from: typeof pods.old, to: typeof pods.old) => {
      await flush();
      await execIn(from.ns, ['ip', 'addr', 'replace', `${from.forged}/32`, 'dev', 'eth0']);
      try {
        return await execIn(from.ns, ['ping', '-c', '1', '-W', '2', '-I', from.forged, to.ip]).then(() => true, () => false);
      } finally {
        await execIn(from.ns, ['ip', 'addr', 'del', `${from.forged}/32`, 'dev', 'eth0']);
      }
    };
    assert.ok(await reaches(pods.old, pods.guarded), 'before the table');

    // The upgraded plugin's first ADD: it makes the table and guards its own pod's port only.
    const [link] = await ipJsonIn(pods.guarded.ns, ['link', 'show', 'eth0']);
    const guardedAttachment = { port: pods.guarded.port, mac: link.address, addresses: [pods.guarded.ip, pods.guarded.ip6] };
    assert.deepEqual(await viaNetlink(node!, ['install', 'add'], guardedAttachment), [{ installed: true }, { added: 9 }]);
    assert.match(await listing(node!), /set guarded_ports \{\n\t\ttype ifname\n\t\telements = \{ "bwupguarded" \}/);

    assert.ok(await reaches(pods.old, pods.guarded), 'old pod -> guarded pod, IPv4 (with ARP)');
    assert.ok(await reaches(pods.guarded, pods.old), 'guarded pod -> old pod, IPv4 (with ARP)');
    assert.ok(await reaches(pods.old, pods.guarded, 6), 'old pod -> guarded pod, IPv6 (with ND)');
    assert.ok(await reaches(pods.guarded, pods.old, 6), 'guarded pod -> old pod, IPv6 (with ND)');
    assert.ok(await forges(pods.old, pods.guarded), 'the old pod is not judged at all: unprotected until recreated, as the doctor says');
    assert.ok(!(await forges(pods.guarded, pods.old)), 'the guarded pod\'s forged source is dropped');

    // DEL of the guarded attachment (or a pod recreated elsewhere): its port is no longer judged.
    assert.deepEqual(await viaNetlink(node!, ['delete'], guardedAttachment), [{ deleted: 9 }]);
    assert.match(await listing(node!), /set guarded_ports \{\n\t\ttype ifname\n\t\}/);
    assert.ok(await forges(pods.guarded, pods.old), 'unguarded, its frames pass again');
    assert.ok(await reaches(pods.guarded, pods.old), 'and its real traffic');
  });
});
