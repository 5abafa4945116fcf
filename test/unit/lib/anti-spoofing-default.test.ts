// lib/names.ts's ANTI_SPOOFING_DEFAULT is what the doctor expects of a conflist without an
// "antiSpoofing" key; it must be what the plugin's netconf makes of that conflist (on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from '../../../cni/config/netconf.ts';
import { ANTI_SPOOFING_DEFAULT } from '../../../lib/names.ts';

test('a conflist without "antiSpoofing" gets ANTI_SPOOFING_DEFAULT from the plugin', () => {
  const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', ipam: { subnet: '10.244.1.0/24' } }));
  assert.equal(conf.antiSpoofing, ANTI_SPOOFING_DEFAULT);
  assert.equal(ANTI_SPOOFING_DEFAULT, true, 'on by default (issue 17)');
});
