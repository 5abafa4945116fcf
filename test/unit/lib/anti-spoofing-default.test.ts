// lib/names.ts's ANTI_SPOOFING_DEFAULT is what the doctor expects of a conflist without an
// "antiSpoofing" key; it must be what the plugin's netconf makes of that conflist. Today the
// plugin reads no such key (nothing installs the table: off); when its ADD installs the table
// (issue 17, on by default), NetConf gains the field and this test fails until the constant is
// true, and until netconf takes its default from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from '../../../cni/config/netconf.ts';
import { ANTI_SPOOFING_DEFAULT } from '../../../lib/names.ts';

test('a conflist without "antiSpoofing" gets ANTI_SPOOFING_DEFAULT from the plugin', () => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: { subnet: '10.244.1.0/24' } }));
  assert.equal((conf as { antiSpoofing?: boolean }).antiSpoofing ?? false, ANTI_SPOOFING_DEFAULT);
});
