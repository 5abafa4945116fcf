// The anti-spoofing flows of an Open vSwitch port (lib/openflow/port-guard.ts) and their reconcile
// (guard-sync.ts). The hex strings were produced by these encoders and decoded by `ovs-ofctl
// ofp-print <hex>` (Open vSwitch 3.1) to the text beside each; test/integration/ovs-antispoof.test.ts
// installs the same flows on a real bridge and sends the forged frames.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp, type IpAddress } from '../../../../lib/cidr.ts';
import { OVS_IDS } from '../../../../lib/names.ts';
import type { OpenFlowClient } from '../../../../lib/openflow/client.ts';
import { guardedInterfaces, guardedPortsRead, syncPortGuards } from '../../../../lib/openflow/guard-sync.ts';
import {
  ATTACHMENT_COOKIE_MASK, DELETE_ALL_GUARDS, diffGuards, GUARD_COOKIE_PREFIX, GUARD_PRIORITY, guardCookie, missingGuardFlows, PIPELINE_COOKIE_PREFIX, pipelineFlows,
  planPortGuard, type PresentFlow,
} from '../../../../lib/openflow/port-guard.ts';
import { flowMod, type FlowMod } from '../../../../lib/openflow/protocol.ts';
import type { OvsdbClient } from '../../../../lib/ovsdb/client.ts';
import type { OperationResult } from '../../../../lib/ovsdb/protocol.ts';

const ip = (text: string): IpAddress => parseIp(text)!;
const MAC = '0a:58:0a:63:00:02';
const cookie = guardCookie('n', 'c', 'eth0');
const dual = { cookie, ofport: 5, mac: MAC, addresses: [ip('10.99.0.2'), ip('fd00::2')] };

describe('the guard flows', () => {
  test('goto_table and the matches on the wire', () => {
    const [toSwitch, normal] = pipelineFlows();
    // ofp-print: ADD priority=1 cookie:0x6272777000000001 actions=goto_table:1
    assert.equal(flowMod(toSwitch!.add, 1).toString('hex'),
      '040e004000000001627277700000000100000000000000000000000000000001ffffffffffffffffffffffff0000000000010004000000000001000801000000');
    // ofp-print: ADD table:1 priority=0 cookie:0x6272777000000002 actions=NORMAL
    assert.equal(flowMod(normal!.add, 1).toString('hex'),
      '040e005000000001627277700000000200000000000000000100000000000000ffffffffffffffffffffffff000000000001000400000000000400180000000000000010fffffffaffff000000000000');
    const flows = planPortGuard(dual);
    const byText = (t: string) => flows.find((f) => f.text.includes(t))!.add;
    // ofp-print: ADD priority=50000,ip,in_port=5,vlan_tci=0x0000/0x1fff,dl_src=0a:58:0a:63:00:02,nw_src=10.99.0.2 cookie:0x6272776774e20f10 actions=goto_table:1
    assert.equal(flowMod(byText('ip,nw_src=10.99.0.2'), 1).toString('hex'),
      '040e0068000000016272776774e20f100000000000000000000000000000c350ffffffffffffffffffffffff000000000001002a8000000400000005800008060a580a63000280000c02000080000a020800800016040a6300020000000000000001000801000000');
    // ofp-print: ADD priority=49000,in_port=5 cookie:0x6272776774e20f10 actions=drop (no instruction at all)
    assert.equal(flowMod(flows.at(-1)!.add, 1).toString('hex'),
      '040e0040000000016272776774e20f100000000000000000000000000000bf68ffffffffffffffffffffffff000000000001000c800000040000000500000000');
  });

  test('dual stack: what lib/antispoof/ruleset.ts allows and drops, as flows of the port', () => {
    const texts = planPortGuard(dual).map((f) => f.text.replace(',dl_src=0a:58:0a:63:00:02,vlan_tci=0x0000', ',OWN'));
    const ll = 'fe80::858:aff:fe63:2';
    assert.deepEqual(texts, [
      // Neighbour advertisements from its addresses for its addresses only.
      ...['fd00::2', ll].flatMap((src) => ['fd00::2', ll].map((t) => `table=0,priority=50200,in_port=5,OWN,icmp6,ipv6_src=${src},icmp_type=136,nd_target=${t} actions=goto_table:1`)),
      'table=0,priority=50100,in_port=5,icmp,icmp_type=5 actions=drop',
      'table=0,priority=50100,in_port=5,udp,tp_src=67 actions=drop',
      'table=0,priority=50100,in_port=5,icmp6,icmp_type=134 actions=drop',
      'table=0,priority=50100,in_port=5,icmp6,icmp_type=137 actions=drop',
      'table=0,priority=50100,in_port=5,icmp6,icmp_type=136 actions=drop',
      'table=0,priority=50100,in_port=5,udp6,tp_src=547 actions=drop',
      `table=0,priority=50000,in_port=5,OWN,arp,arp_spa=10.99.0.2,arp_sha=${MAC} actions=goto_table:1`,
      `table=0,priority=50000,in_port=5,OWN,arp,arp_spa=0.0.0.0,arp_sha=${MAC} actions=goto_table:1`,
      'table=0,priority=50000,in_port=5,OWN,ip,nw_src=10.99.0.2 actions=goto_table:1',
      'table=0,priority=50000,in_port=5,OWN,ipv6,ipv6_src=fd00::2 actions=goto_table:1',
      `table=0,priority=50000,in_port=5,OWN,ipv6,ipv6_src=${ll} actions=goto_table:1`,
      'table=0,priority=50000,in_port=5,OWN,icmp6,ipv6_src=::,icmp_type=135,nd_target=fd00::2 actions=goto_table:1',
      `table=0,priority=50000,in_port=5,OWN,icmp6,ipv6_src=::,icmp_type=135,nd_target=${ll} actions=goto_table:1`,
      'table=0,priority=50000,in_port=5,OWN,icmp6,ipv6_src=::,icmp_type=143 actions=goto_table:1',
      'table=0,priority=49000,in_port=5 actions=drop',
    ]);
    assert.ok(planPortGuard(dual).every((f) => f.add.cookie === cookie && f.add.table === 0));
  });

  test('IPv6 only: no ARP or IPv4 allowed (as the Linux table, whose sets then hold none)', () => {
    const texts = planPortGuard({ cookie, ofport: 7, mac: MAC, addresses: [ip('fd00::2')] }).map((f) => f.text);
    assert.ok(!texts.some((t) => t.includes(',arp,') || t.includes(',ip,')), texts.join('\n'));
  });

  test('cookies: one per attachment, generation 0, guard prefix; pipeline and steering prefixes differ', () => {
    assert.equal(guardCookie('n', 'c', 'eth0'), cookie);
    assert.notEqual(guardCookie('n', 'c', 'eth1'), cookie);
    assert.notEqual(guardCookie('m', 'c', 'eth0'), cookie);
    assert.equal(cookie & 1n, 0n);
    assert.equal(cookie >> 32n, GUARD_COOKIE_PREFIX >> 32n);
    assert.notEqual(GUARD_COOKIE_PREFIX, PIPELINE_COOKIE_PREFIX);
    assert.notEqual(GUARD_COOKIE_PREFIX >> 32n, 0x62727779n, 'not the steering prefix: its diff never deletes a guard');
    assert.deepEqual(DELETE_ALL_GUARDS.map((m) => [m.cookie, m.cookieMask]), [[GUARD_COOKIE_PREFIX, 0xffffffff00000000n], [PIPELINE_COOKIE_PREFIX, 0xffffffff00000000n]]);
  });
});

const asPresent = (mods: readonly FlowMod[]): PresentFlow[] => mods.filter((m) => m.command === 'add').map((m) => ({ cookie: m.cookie, table: m.table ?? 0, priority: m.priority ?? 0 }));

describe('the reconcile (diffGuards)', () => {
  const all = [...pipelineFlows().map((f) => f.add), ...planPortGuard(dual).map((f) => f.add)];

  test('all there: nothing; nothing there (ovs-vswitchd restarted): the pipeline and the guard', () => {
    assert.deepEqual(diffGuards([dual], asPresent(all)).mods, []);
    const restart = diffGuards([dual], []);
    assert.deepEqual(restart.mods, all);
    assert.deepEqual(restart.installed, [cookie]);
  });

  test('a damaged guard: anew under the other generation, then the old generation\'s leftovers deleted', () => {
    const present = asPresent(all).filter((f) => f.priority !== GUARD_PRIORITY.dropRest);
    assert.deepEqual(missingGuardFlows(planPortGuard(dual), present), ['table=0,priority=49000,in_port=5 actions=drop']);
    const change = diffGuards([dual], present);
    const adds = change.mods.filter((m) => m.command === 'add');
    assert.equal(adds.length, planPortGuard(dual).length);
    assert.ok(adds.every((m) => m.cookie === (cookie | 1n)));
    assert.deepEqual(change.mods.at(-1), { command: 'delete', cookie, cookieMask: 0xffffffffffffffffn });
    // The next run finds generation 1 complete.
    assert.deepEqual(diffGuards([dual], [...asPresent(pipelineFlows().map((f) => f.add)), ...asPresent(adds)]).mods, []);
  });

  test('a guard whose port is gone: deleted, both generations; flows not ours never touched', () => {
    const gone = guardCookie('n', 'gone', 'eth0');
    const change = diffGuards([dual], [...asPresent(all), { cookie: gone | 1n, table: 0, priority: 49000 }, { cookie: 0x6272777912345678n, table: 1, priority: 40000 }, { cookie: 0n, table: 0, priority: 0 }]);
    assert.deepEqual(change.mods, [{ command: 'delete', cookie: gone, cookieMask: ATTACHMENT_COOKIE_MASK }]);
    assert.deepEqual(change.removed, [gone]);
  });
});

/** Interfaces as guardedPortsRead's answer: the bridge's ports, their interfaces, every Interface. */
function dbAnswer(interfaces: { uuid: string; name: string; ofport?: number; ids: Record<string, string>; onBridge?: boolean }[]): OperationResult[] {
  const onBridge = interfaces.filter((i) => i.onBridge !== false);
  return [
    { rows: [{ ports: ['set', onBridge.map((i) => ['uuid', `p-${i.uuid}`])] }] },
    { rows: interfaces.map((i) => ({ _uuid: ['uuid', `p-${i.uuid}`], interfaces: ['uuid', i.uuid] })) },
    { rows: interfaces.map((i) => ({ _uuid: ['uuid', i.uuid], name: i.name, ofport: i.ofport === undefined ? ['set', []] : i.ofport, external_ids: ['map', Object.entries(i.ids)] })) },
  ] as OperationResult[];
}

const owner = (containerId: string) => ({ [OVS_IDS.network]: 'n', [OVS_IDS.containerId]: containerId, [OVS_IDS.ifname]: 'eth0' });
const guarded = (containerId: string, ips: string) => ({ ...owner(containerId), [OVS_IDS.attachedMac]: MAC, [OVS_IDS.antispoofIps]: ips });

describe('the guarded ports from the database', () => {
  test('only this bridge\'s interfaces with a MAC, addresses and an ofport', () => {
    const ports = guardedInterfaces(dbAnswer([
      { uuid: 'a', name: 'bwa', ofport: 5, ids: guarded('c', '10.99.0.2,fd00::2') },
      { uuid: 'b', name: 'bwb', ofport: 6, ids: owner('d') }, // antiSpoofing false: no addresses kept
      { uuid: 'v', name: 'vnet0', ofport: 7, ids: { 'vm-id': 'guest1' } },
      { uuid: 'o', name: 'bwo', ofport: 8, ids: guarded('e', '10.99.0.9'), onBridge: false },
      { uuid: 'x', name: 'bwx', ids: guarded('f', '10.99.0.10') }, // not made by ovs-vswitchd yet
      { uuid: 'y', name: 'bwy', ofport: -1, ids: guarded('g', '10.99.0.11') },
      { uuid: 'z', name: 'bwz', ofport: 9, ids: guarded('h', '10.99.0.300') },
    ]));
    assert.deepEqual(ports, [{ name: 'bwa', ...dual }]);
    assert.equal(guardedPortsRead('br0')[0]!.op, 'select');
  });

  test('syncPortGuards: a restart\'s lost flows put back, then nothing to do', async () => {
    const flows = new Map<bigint, PresentFlow[]>();
    const sent: FlowMod[][] = [];
    const client = {
      flowCookies: async (c: bigint, mask: bigint) => [...flows.values()].flat().filter((f) => (f.cookie & mask) === (c & mask)),
      flowMods: async (mods: readonly FlowMod[]) => {
        sent.push([...mods]);
        for (const m of mods) {
          if (m.command === 'add') flows.set(m.cookie, [...(flows.get(m.cookie) ?? []), { cookie: m.cookie, table: m.table ?? 0, priority: m.priority ?? 0 }]);
          else for (const c of [...flows.keys()]) if ((c & m.cookieMask!) === (m.cookie & m.cookieMask!)) flows.delete(c);
        }
      },
    } as unknown as OpenFlowClient;
    const db = { transact: async () => dbAnswer([{ uuid: 'a', name: 'bwa', ofport: 5, ids: guarded('c', '10.99.0.2,fd00::2') }]), close: () => {} } as OvsdbClient;
    const first = await syncPortGuards(client, db, 'br0');
    assert.deepEqual(first.installed, ['bwa']);
    assert.equal(first.pipelineAdded.length, 2);
    assert.equal(sent.length, 1);
    const second = await syncPortGuards(client, db, 'br0');
    assert.deepEqual([second.installed, second.removed, second.pipelineAdded], [[], [], []]);
    assert.equal(sent.length, 1, 'nothing sent when all is there');
  });
});
