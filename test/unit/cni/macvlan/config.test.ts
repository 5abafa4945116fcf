import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetConf } from '../../../../cni/config/netconf.ts';
import { CniError } from '../../../../cni/errors.ts';

const base = { cniVersion: '1.1.0', name: 'lan', type: 'bridgeway', mode: 'macvlan', ipam: { subnet: '192.168.1.0/24', rangeStart: '192.168.1.100', rangeEnd: '192.168.1.150' } };
const parse = (extra: Record<string, unknown> = {}) => parseNetConf(JSON.stringify({ ...base, ...extra }));
const refuses = (extra: Record<string, unknown>, code: number, message: RegExp) =>
  assert.throws(() => parse(extra), (error: unknown) => error instanceof CniError && error.code === code && message.test(error.message));

describe('macvlan config', () => {
  test('defaults: bridge mode, the master and MTU left to the node, no shim, anti-spoofing off', () => {
    const conf = parse();
    assert.equal(conf.mode, 'macvlan');
    assert.deepEqual(conf.macvlan, { mode: 'bridge', hostShim: false });
    assert.equal(conf.antiSpoofing, false);
    assert.equal(conf.ipam.kind, 'builtin');
  });

  test('every key read', () => {
    assert.deepEqual(parse({ master: 'eth1', macvlanMode: 'vepa', mtu: 1400, hostShim: true }).macvlan, { master: 'eth1', mode: 'vepa', mtu: 1400, hostShim: true });
    for (const mode of ['private', 'passthru', 'bridge']) assert.equal(parse({ macvlanMode: mode }).macvlan?.mode, mode);
  });

  test('bridge mode stays the default mode, with no macvlan keys', () => {
    const conf = parseNetConf(JSON.stringify({ ...base, mode: undefined }));
    assert.equal(conf.mode, 'bridge');
    assert.equal(conf.macvlan, undefined);
  });

  test('bad values are named', () => {
    refuses({ mode: 'ipvlan' }, 7, /"mode" must be "bridge" or "macvlan"/);
    refuses({ macvlanMode: 'source' }, 7, /"macvlanMode" must be one of bridge, private, vepa, passthru/);
    refuses({ master: 'eth/1' }, 7, /"master" must be an interface name/);
    refuses({ mtu: 20 }, 7, /"mtu" must be an integer from 68/);
    refuses({ ipam: { subnet: '192.168.1.0/24', rangeStart: '10.0.0.5' } }, 7, /rangeStart 10\.0\.0\.5 is not a host address of 192\.168\.1\.0\/24/);
  });

  test('what cannot work is refused with the way out', () => {
    refuses({ hostShim: true, macvlanMode: 'private' }, 2, /hostShim.*private ones never talk to a sibling/);
    refuses({ hostShim: true, macvlanMode: 'passthru' }, 2, /hostShim.*takes the NIC alone/);
    refuses({ hostShim: true, ipam: { type: 'host-local' } }, 2, /hostShim.*built-in IPAM/);
    refuses({ antiSpoofing: true }, 2, /antiSpoofing.*a macvlan pod has none/);
  });
});
