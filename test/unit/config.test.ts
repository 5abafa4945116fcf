import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv4 } from '../../lib/cidr.ts';
import { parseNetConf } from '../../cni/config.ts';
import { CniError } from '../../cni/errors.ts';

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
    assert.equal(conf.hairpinMode, false);
    assert.equal(conf.dataDir, '/var/lib/cni/bridgeway');
    assert.equal(conf.logFile, '/var/log/bridgeway/cni.log');
    assert.equal(conf.logLevel, 'info');
    assert.ok(conf.ipam.kind === 'builtin');
    assert.equal(formatIpv4(conf.ipam.gateway), '10.244.1.1');
    assert.deepEqual(conf.ipam.routes.map((r) => r.dst.prefixLength), [0]);
  });

  test('booleans may be strings; unknown fields are tolerated', () => {
    const conf = parse({ ...base, isGateway: 'false', hairpinMode: 'true', somethingNew: { x: 1 } });
    assert.equal(conf.isGateway, false);
    assert.equal(conf.isDefaultGateway, false);
    assert.equal(conf.hairpinMode, true);
  });

  test('host-local style ranges with one range are accepted', () => {
    const conf = parse({ ...base, ipam: { type: 'bridgeway', ranges: [[{ subnet: '10.1.0.0/16', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20' }]] } });
    assert.ok(conf.ipam.kind === 'builtin');
    assert.equal(formatIpv4(conf.ipam.range.start), '10.1.0.10');
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
    ['bad subnet', { ...base, ipam: { subnet: '10.0.0.0/40' } }, 7, /"ipam.subnet" must be an IPv4 CIDR/],
    ['host bits set', { ...base, ipam: { subnet: '10.0.0.5/24' } }, 7, /did you mean 10\.0\.0\.0\/24/],
    ['gateway outside', { ...base, ipam: { subnet: '10.0.0.0/24', gateway: '10.0.1.1' } }, 7, /gateway 10\.0\.1\.1 is outside/],
    ['IPv6 subnet', { ...base, ipam: { subnet: 'fd00::/64' } }, 2, /unsupported field ipam.subnet="fd00::\/64": .*IPv4/],
    ['ipMasq', { ...base, ipMasq: true }, 2, /unsupported field ipMasq=true/],
    ['two ranges', { ...base, ipam: { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.1.0/24' }]] } }, 2, /exactly one range/],
    ['bad log level', { ...base, logLevel: 'loud' }, 7, /"logLevel" must be one of/],
    ['bad route', { ...base, ipam: { subnet: '10.0.0.0/24', routes: [{ dst: 'nope' }] } }, 7, /"ipam.routes\[0\].dst" must be an IPv4 CIDR/],
    ['bad attachments', { ...base, 'cni.dev/valid-attachments': [{ containerID: 1 }] }, 7, /valid-attachments\[0\]/],
  ];
  for (const [name, conf, code, message] of errors) {
    test(`rejects ${name} with code ${code}`, () => rejects(conf, code, message));
  }
});
