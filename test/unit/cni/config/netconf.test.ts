import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp } from '../../../../lib/cidr.ts';
import { parseNetConf } from '../../../../cni/config/netconf.ts';
import { CniError } from '../../../../cni/errors.ts';

const base = { cniVersion: '1.1.0', name: 'net', type: 'bridgeway', ipam: { subnet: '10.244.1.0/24' } };
const parse = (conf: unknown) => parseNetConf(JSON.stringify(conf));

function rejects(conf: unknown, code: number, message: RegExp) {
  assert.throws(
    () => (typeof conf === 'string' ? parseNetConf(conf) : parse(conf)),
    (e: unknown) => e instanceof CniError && e.code === code && message.test(e.message),
  );
}

describe('parseNetConf', () => {
  test('defaults', () => {
    const conf = parse(base);
    assert.equal(conf.bridge, 'cni0');
    assert.equal(conf.mtu, 1500);
    assert.equal(conf.isGateway, true);
    assert.equal(conf.isDefaultGateway, true);
    assert.equal(conf.hairpinMode, true, 'hairpin is on unless a network turns it off');
    assert.equal(conf.antiSpoofing, true, 'anti-spoofing is on unless a network turns it off');
    assert.equal(conf.dataDir, '/var/lib/cni/bridgeway');
    assert.equal(conf.logFile, '/var/log/bridgeway/cni.log');
    assert.equal(conf.logLevel, 'info');
    assert.ok(conf.ipam.kind === 'builtin');
    assert.equal(conf.ipam.ranges.length, 1);
    assert.equal(formatIp({ family: 4, value: conf.ipam.ranges[0]!.gateway }), '10.244.1.1');
    assert.deepEqual(conf.ipam.routes.map((r) => r.dst.prefixLength), [0]);
  });

  test('booleans may be strings; unknown fields are tolerated', () => {
    const conf = parse({ ...base, isGateway: 'false', hairpinMode: 'false', somethingNew: { x: 1 } });
    assert.equal(conf.isGateway, false);
    assert.equal(conf.isDefaultGateway, false);
    assert.equal(conf.hairpinMode, false);
  });

  test('hairpinMode: false turns it off, true keeps it on; a value that is not a boolean is code 7 naming the key', () => {
    assert.equal(parse({ ...base, hairpinMode: false }).hairpinMode, false);
    assert.equal(parse({ ...base, hairpinMode: true }).hairpinMode, true);
    assert.throws(() => parse({ ...base, hairpinMode: 'sometimes' }), (e: any) => e.code === 7 && /hairpinMode/.test(e.message));
  });

  test('antiSpoofing: false turns it off; a value that is not a boolean is code 7 naming the key', () => {
    assert.equal(parse({ ...base, antiSpoofing: false }).antiSpoofing, false);
    assert.equal(parse({ ...base, antiSpoofing: 'false' }).antiSpoofing, false);
    assert.throws(() => parse({ ...base, antiSpoofing: 'sometimes' }), (e: any) => e.code === 7 && /antiSpoofing/.test(e.message));
  });

  test('uplink: the NIC the bridge takes, takeover off by default; a bad name or the bridge itself is code 7', () => {
    const conf = parse({ ...base, bridge: 'br-lan', uplink: 'eth1' });
    assert.equal(conf.uplink, 'eth1');
    assert.equal(conf.uplinkTakeover, false);
    assert.equal(parse({ ...base, uplink: 'eth1', uplinkTakeover: true }).uplinkTakeover, true);
    assert.equal(parse(base).uplink, undefined);
    rejects({ ...base, uplink: 'eth/1' }, 7, /"uplink" must name the LAN NIC/);
    rejects({ ...base, bridge: 'br-lan', uplink: 'br-lan' }, 7, /other than the bridge's/);
  });

  test('host-local style ranges with one range are accepted', () => {
    const conf = parse({ ...base, ipam: { type: 'bridgeway', ranges: [[{ subnet: '10.1.0.0/16', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20' }]] } });
    assert.ok(conf.ipam.kind === 'builtin');
    assert.equal(formatIp({ family: 4, value: conf.ipam.ranges[0]!.start }), '10.1.0.10');
  });

  test('another ipam.type is delegated', () => {
    assert.deepEqual(parse({ ...base, ipam: { type: 'host-local', subnet: '10.1.0.0/24' } }).ipam, { kind: 'delegated', type: 'host-local' });
  });

  test('GC attachments come from either key', () => {
    const list = [{ containerID: 'a', ifname: 'eth0' }];
    assert.deepEqual(parse({ ...base, 'cni.dev/valid-attachments': list }).validAttachments, [{ containerId: 'a', ifname: 'eth0' }]);
    assert.deepEqual(parse({ ...base, 'cni.dev/attachments': list }).validAttachments, [{ containerId: 'a', ifname: 'eth0' }]);
  });

  const errors: [string, unknown, number, RegExp][] = [
    ['malformed JSON', '{"cniVersion":', 6, /cannot decode/],
    ['not an object', '[1,2]', 6, /must be a JSON object/],
    ['missing cniVersion', { ...base, cniVersion: undefined }, 7, /"cniVersion" is required/],
    ['unknown cniVersion', { ...base, cniVersion: '0.2.0' }, 1, /incompatible CNI version "0.2.0".*1\.1\.0/],
    ['bad name', { ...base, name: '-x' }, 7, /"name" must match/],
    ['mtu of the wrong type', { ...base, mtu: '1500' }, 7, /"mtu" must be an integer from 576 to 65535, got "1500"/],
    ['bool of the wrong type', { ...base, isGateway: 1 }, 7, /"isGateway" must be true or false/],
    ['bridge name too long', { ...base, bridge: 'abcdefghijklmnop' }, 7, /"bridge" must be a valid interface name/],
    ['no ipam', { ...base, ipam: undefined }, 7, /"ipam" is required/],
    ['no subnet', { ...base, ipam: {} }, 7, /"ipam.subnet" is required/],
    ['bad subnet', { ...base, ipam: { subnet: '10.0.0.0/40' } }, 7, /"ipam.subnet" must be a CIDR like 10\.244\.1\.0\/24 or fd00:10:244:1::\/64, got "10\.0\.0\.0\/40"/],
    ['host bits set', { ...base, ipam: { subnet: '10.0.0.5/24' } }, 7, /did you mean 10\.0\.0\.0\/24/],
    ['gateway outside', { ...base, ipam: { subnet: '10.0.0.0/24', gateway: '10.0.1.1' } }, 7, /gateway 10\.0\.1\.1 is outside/],
    ['ipMasq', { ...base, ipMasq: true }, 2, /unsupported field ipMasq=true/],
    ['two IPv4 ranges', { ...base, ipam: { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.1.0/24' }]] } }, 7, /"ipam.ranges\[1\]\[0\].subnet" 10\.0\.1\.0\/24 is a second IPv4 range \(ipam.ranges\[0\] is one already\)/],
    ['two IPv6 ranges', { ...base, ipam: { ranges: [[{ subnet: 'fd00:1::/64' }], [{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:2::/64' }]] } }, 7, /"ipam.ranges\[2\]\[0\].subnet" fd00:2::\/64 is a second IPv6 range \(ipam.ranges\[0\]/],
    ['two ranges in one set', { ...base, ipam: { ranges: [[{ subnet: '10.0.0.0/25' }, { subnet: '10.0.0.128/25' }]] } }, 2, /unsupported field ipam.ranges\[0\]=.*one range per family/],
    ['subnet and ranges', { ...base, ipam: { subnet: '10.0.0.0/24', ranges: [[{ subnet: 'fd00::/64' }]] } }, 2, /either ipam.subnet or ipam.ranges/],
    ['empty ranges', { ...base, ipam: { ranges: [] } }, 7, /"ipam.ranges" must name at least one range set/],
    ['a range set that is no array', { ...base, ipam: { ranges: [{ subnet: 'fd00::/64' }] } }, 7, /"ipam.ranges\[0\]" must be a non-empty array/],
    ['IPv6 /127', { ...base, ipam: { subnet: 'fd00::/127' } }, 7, /"ipam.subnet": subnet fd00::\/127 is too small: IPv6 needs \/126 or larger/],
    ['IPv6 /128 in ranges', { ...base, ipam: { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::5/128' }]] } }, 7, /"ipam.ranges\[1\]\[0\].subnet": subnet fd00::5\/128 is too small/],
    ['IPv4 /31', { ...base, ipam: { subnet: '10.0.0.0/31' } }, 7, /"ipam.subnet": subnet 10\.0\.0\.0\/31 is too small: IPv4 needs \/30 or larger/],
    ['IPv6 host bits', { ...base, ipam: { subnet: 'fd00::5/64' } }, 7, /"ipam.subnet" fd00::5\/64 has host bits set; did you mean fd00::\/64\?/],
    ['IPv6 multicast', { ...base, ipam: { subnet: 'ff02::/64' } }, 7, /"ipam.subnet" ff02::\/64 cannot hold pod addresses: it overlaps ff00::\/8, the multicast range/],
    ['IPv6 link-local', { ...base, ipam: { subnet: 'fe80::/64' } }, 7, /overlaps fe80::\/10, link-local/],
    ['IPv4-mapped IPv6', { ...base, ipam: { subnet: '::ffff:a00:0/120' } }, 7, /"ipam.subnet" must be a CIDR .*\(an IPv4-mapped IPv6 address: write the IPv4 address itself\)/],
    ['IPv4-mapped gateway', { ...base, ipam: { subnet: '10.0.0.0/24', gateway: '::ffff:a00:1' } }, 7, /"ipam.gateway" must be an IPv4 or IPv6 address, got "::ffff:a00:1" \(an IPv4-mapped/],
    ['IPv6 gateway in an IPv4 range', { ...base, ipam: { subnet: '10.0.0.0/24', gateway: 'fd00::1' } }, 7, /"ipam.gateway" fd00::1 is IPv6, but it belongs to an IPv4 range/],
    ['IPv4 rangeStart in an IPv6 range', { ...base, ipam: { ranges: [[{ subnet: 'fd00::/64', rangeStart: '10.0.0.5' }]] } }, 7, /"ipam.ranges\[0\]\[0\].rangeStart" 10\.0\.0\.5 is IPv4, but it belongs to an IPv6 range/],
    ['IPv6 rangeEnd outside', { ...base, ipam: { subnet: 'fd00::/120', rangeEnd: 'fd00::1:1' } }, 7, /rangeEnd fd00::1:1 is not a host address of fd00::\/120/],
    ['an IPv6 range of only the gateway', { ...base, ipam: { subnet: 'fd00::/120', rangeStart: 'fd00::1', rangeEnd: 'fd00::1' } }, 7, /"ipam.subnet": fd00::\/120 from fd00::1 to fd00::1 leaves no pod address beside the gateway/],
    ['IPv6 gateway outside', { ...base, ipam: { subnet: 'fd00::/120', gateway: 'fd01::1' } }, 7, /gateway fd01::1 is outside the subnet fd00::\/120/],
    ['IPv6 route without an IPv6 range', { ...base, ipam: { subnet: '10.0.0.0/24', routes: [{ dst: '::/0' }] } }, 7, /"ipam.routes\[0\].dst" ::\/0 is IPv6, but no IPv6 range is configured/],
    ['IPv4 gw on an IPv6 route', { ...base, ipam: { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]], routes: [{ dst: 'fd01::/64', gw: '10.0.0.1' }] } }, 7, /"ipam.routes\[0\].gw" 10\.0\.0\.1 is IPv4, but it belongs to an IPv6 route/],
    ['bad log level', { ...base, logLevel: 'loud' }, 7, /"logLevel" must be one of/],
    ['bad route', { ...base, ipam: { subnet: '10.0.0.0/24', routes: [{ dst: 'nope' }] } }, 7, /"ipam.routes\[0\].dst" must be a CIDR/],
    ['bad attachments', { ...base, 'cni.dev/valid-attachments': [{ containerID: 1 }] }, 7, /valid-attachments\[0\]/],
  ];
  for (const [name, conf, code, message] of errors) {
    test(`rejects ${name} with code ${code}`, () => rejects(conf, code, message));
  }
});
