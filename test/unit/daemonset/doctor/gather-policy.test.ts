// daemonset/doctor/gather-policy.ts: the policy table as nft lists it, counted; the kernel's features it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { countPolicyTable, gatherPolicy } from '../../../../daemonset/doctor/gather-policy.ts';
import { CommandError, type Runner } from '../../../../lib/exec.ts';

test('chains, rules, sets and elements counted; to_pod/from_pod elements are the isolated addresses', () => {
  const listed = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { table: { family: 'inet', name: 'bridgeway_policy' } },
    { map: { family: 'inet', table: 'bridgeway_policy', name: 'to_pod4', elem: [['10.244.1.2', { jump: { target: 'ic_1' } }], ['10.244.1.3', { jump: { target: 'ic_1' } }]] } },
    { map: { family: 'inet', table: 'bridgeway_policy', name: 'from_pod6', elem: [['fd00::2', { jump: { target: 'ec_1' } }]] } },
    { set: { family: 'inet', table: 'bridgeway_policy', name: 'ik_1_a4', elem: ['10.244.2.2'] } },
    { set: { family: 'inet', table: 'bridgeway_policy', name: 'self4' } },
    { chain: { family: 'inet', table: 'bridgeway_policy', name: 'pods_forward' } },
    { chain: { family: 'inet', table: 'bridgeway_policy', name: 'ic_1' } },
    { rule: { family: 'inet', table: 'bridgeway_policy', chain: 'pods_forward', expr: [] } },
  ] });
  assert.deepEqual(countPolicyTable(listed), { chains: 2, rules: 1, sets: 4, elements: 4, isolated: { ingress: 2, egress: 1 } });
});

test('nf_tables is there when the kernel answers "no such table", even with no /sys/module entry; not when nft is missing', async () => {
  const noSys = '/nonexistent-proc-sys';
  const failWith = (error: CommandError): Runner => async () => { throw error; };
  const argv = ['nft', '-j', 'list', 'table', 'inet', 'bridgeway_policy'];
  const noTable = await gatherPolicy(failWith(new CommandError(argv, 1, '', 'Error: No such file or directory\nlist table inet bridgeway_policy\n', 'exit 1')), true, noSys);
  assert.deepEqual(noTable.table, { absent: 'table' });
  assert.equal(noTable.features.nfTables, true);
  const noNft = await gatherPolicy(failWith(new CommandError(argv, null, '', '', 'spawn nft ENOENT')), true, noSys);
  assert.deepEqual(noNft.table, { absent: 'nft' });
  assert.equal(noNft.features.nfTables, fs.existsSync('/sys/module/nf_tables'), 'no answer from the kernel: only /sys/module can tell');
  const refused = await gatherPolicy(failWith(new CommandError(argv, 1, '', 'Error: Protocol not supported\n', 'exit 1')), true, noSys);
  assert.ok('error' in refused.table);
  assert.equal(refused.features.nfTables, fs.existsSync('/sys/module/nf_tables'));
});
