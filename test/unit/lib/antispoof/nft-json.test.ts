// lib/antispoof/nft-json.ts against what nft 1.0.6 really printed for a table made by `nft -f`
// of the renderer's text with one attachment (test/fixtures/nft/listed-table.json): read back,
// its elements are exactly attachmentElements() of that attachment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { elementId, elementPort, parseListedTable } from '../../../../lib/antispoof/nft-json.ts';
import { antispoofRuleset, attachmentElements } from '../../../../lib/antispoof/ruleset.ts';
import { parseIp } from '../../../../lib/cidr.ts';

const ruleset = antispoofRuleset();
const LISTED = fs.readFileSync(path.join(import.meta.dirname, '../../../fixtures/nft/listed-table.json'), 'utf8');
const attachment = { port: 'bw0123456789ab', mac: '0a:58:0a:63:00:05', addresses: ['10.99.0.5', 'fd00:99::5'].map((a) => parseIp(a)!) };
const ids = (elements: Parameters<typeof elementId>[0][]) => elements.map(elementId).sort();

test('the listing of a real table: every set, and exactly the attachment\'s elements', () => {
  const listed = parseListedTable(LISTED, ruleset);
  assert.deepEqual(listed.sets, ruleset.sets.map((s) => s.name));
  assert.deepEqual(ids(listed.elements), ids(attachmentElements(attachment)));
  assert.deepEqual([...new Set(listed.elements.map(elementPort))], ['bw0123456789ab']);
});

test('an empty table, elements with options, and a small ND target integer', () => {
  const set = (name: string, elem?: unknown[]) => ({ set: { family: 'bridge', name, table: 'bridgeway', ...(elem && { elem }) } });
  const text = JSON.stringify({ nftables: [{ metainfo: {} }, set('port_mac', [{ elem: { val: { concat: ['bw1', '0A:58:0A:F4:01:02'] }, comment: 'x' } }]), set('port_nd_target', [{ concat: ['bw1', '0x1'] }]), set('other')] });
  const listed = parseListedTable(text, ruleset);
  assert.deepEqual(listed.sets, ['port_mac', 'port_nd_target', 'other']);
  assert.deepEqual(listed.elements, [
    { set: 'port_mac', key: [{ ifname: 'bw1' }, { mac: '0a:58:0a:f4:01:02' }] },
    { set: 'port_nd_target', key: [{ ifname: 'bw1' }, { ip: { family: 6, value: 1n } }] },
  ]);
  assert.deepEqual(parseListedTable(JSON.stringify({ nftables: [set('port_ipv4')] }), ruleset).elements, []);
});

test('what does not fit its set is an error, not a silent miss', () => {
  const text = (elem: unknown) => JSON.stringify({ nftables: [{ set: { family: 'bridge', name: 'port_ipv4', table: 'bridgeway', elem: [elem] } }] });
  assert.throws(() => parseListedTable(text({ concat: ['bw1', 'fd00::1'] }), ruleset), /is not a ip saddr/);
  assert.throws(() => parseListedTable(text('bw1'), ruleset), /does not have its 2 fields/);
  assert.throws(() => parseListedTable('{}', ruleset), /not nft JSON/);
});
