// Results contain exactly the fields their version defines (issue 8 item 2): libcni decodes a
// result into its version's Go types, so anything else disappears from the next plugin's
// prevResult. The field lists below are written from SPEC.md of each spec tag, independently
// of cni/result.ts. Then the result of a single-family and a dual-stack ADD in every version.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, parseCidr, parseIp } from '../../../lib/cidr.ts';
import { parseNetConf } from '../../../cni/config/netconf.ts';
import { hostVethMac, planAdd } from '../../../cni/plan.ts';
import { convertResult, parsePrevResult, type Result } from '../../../cni/result.ts';
import { hostVethName } from '../../../lib/names.ts';
import { type CniVersion, SUPPORTED_VERSIONS } from '../../../lib/cni-version.ts';
import { MemoryStore } from '../../../ipam/memory-store.ts';
import { FakeKernel } from '../../fixtures/fake-kernel.ts';
import { addEnv, captureLogger, fakeProcSys, invoke, netConf, podNetns } from '../../fixtures/plugin-kernel.ts';

const conf = parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'bridgeway', mtu: 1400, hairpinMode: true, ipam: { subnet: '10.244.1.0/24' }, dns: { nameservers: ['10.96.0.10'] } }));
const pod = { ips: [{ address: parseCidr('10.244.1.7/24')!, gateway: parseIp('10.244.1.1')! }], routes: [{ dst: parseCidr('0.0.0.0/0')!, gw: parseIp('10.244.1.1')! }] };
const target = { containerId: 'abc', ifname: 'eth0', netns: '/run/netns/pod' };


const unexpectedProcess = async (argv: readonly string[]) => {
  throw new Error(`unexpected process: ${argv.join(' ')}`);
};

const V04 = { interface: ['name', 'mac', 'sandbox'], ip: ['version', 'address', 'gateway', 'interface'], route: ['dst', 'gw'] };
const SPEC_FIELDS: Record<CniVersion, { interface: string[]; ip: string[]; route: string[] }> = {
  '0.3.0': V04,
  '0.3.1': V04,
  '0.4.0': V04,
  '1.0.0': { interface: ['name', 'mac', 'sandbox'], ip: ['address', 'gateway', 'interface'], route: ['dst', 'gw'] },
  '1.1.0': {
    interface: ['name', 'mac', 'mtu', 'sandbox', 'socketPath', 'pciID'],
    ip: ['address', 'gateway', 'interface'],
    route: ['dst', 'gw', 'mtu', 'advmss', 'priority', 'table', 'scope'],
  },
};
const TOP = ['cniVersion', 'interfaces', 'ips', 'routes', 'dns'];
const DNS = ['nameservers', 'domain', 'search', 'options'];

/** A result using every field any version defines, plus keys no version defines. */
const everything = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:00:00:02', mtu: 1400, sandbox: '/run/netns/p', socketPath: '/run/vhost.sock', pciID: '0000:00:1f.0', extra: 1 }],
  ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0, extra: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0, extra: 1 }],
  dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'], extra: 1 },
} as unknown as Result;

const DUAL = { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00:10::/64' }]] };

describe('result conversion', () => {
  const { result } = planAdd(conf, target, pod);
  for (const version of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    test(`${version} adds ips[].version`, () => {
      const converted = convertResult(result, version) as { cniVersion: string; ips: { version: string }[] };
      assert.equal(converted.cniVersion, version);
      assert.equal(converted.ips[0]!.version, '4');
    });
  }
  for (const version of ['1.0.0', '1.1.0'] as const) {
    test(`${version} has no ips[].version`, () => {
      const converted = convertResult(result, version) as { ips: object[] };
      assert.ok(!('version' in converted.ips[0]!));
    });
  }
  test('prevResult of any version reads back', () => {
    const back = parsePrevResult(JSON.parse(JSON.stringify(convertResult(result, '0.4.0'))))!;
    assert.equal(back.ips[0]!.address, '10.244.1.7/24');
    assert.equal(back.interfaces[2]!.sandbox, '/run/netns/pod');
    assert.equal(parsePrevResult('nope'), undefined);
  });
});

describe('result fields per version', () => {
  for (const version of SUPPORTED_VERSIONS) {
    test(`${version}: exactly the spec's fields, every one kept`, () => {
      const doc = JSON.parse(JSON.stringify(convertResult(everything, version)));
      const fields = SPEC_FIELDS[version];
      assert.deepEqual(Object.keys(doc).sort(), [...TOP].sort());
      assert.equal(doc.cniVersion, version);
      assert.deepEqual(Object.keys(doc.interfaces[0]).sort(), [...fields.interface].sort());
      assert.deepEqual(Object.keys(doc.ips[0]).sort(), [...fields.ip].sort());
      assert.deepEqual(Object.keys(doc.routes[0]).sort(), [...fields.route].sort());
      assert.deepEqual(Object.keys(doc.dns).sort(), [...DNS].sort());
      if (fields.ip.includes('version')) assert.equal(doc.ips[0].version, '4');
    });
  }
});

/**
 * The whole document an ADD of c1/eth0 prints in `version`: 10.0.0.2 (and fd00:10::2 with
 * `dualStack`) on eth0, the bridge and the host veth, as the spec of that version spells them.
 */
function expectedAdd(version: CniVersion, { dualStack = false, dns = {} }: { dualStack?: boolean; dns?: object } = {}) {
  const legacy = version.startsWith('0.');
  return {
    cniVersion: version,
    interfaces: [
      { name: 'cni0', mac: '0a:58:0a:00:00:01' },
      { name: hostVethName('c1', 'eth0'), mac: hostVethMac('c1', 'eth0') },
      { name: 'eth0', mac: '0a:58:0a:00:00:02', ...(version === '1.1.0' ? { mtu: 1400 } : {}), sandbox: podNetns('c1') },
    ],
    ips: [
      { ...(legacy ? { version: '4' } : {}), address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
      ...(dualStack ? [{ ...(legacy ? { version: '6' } : {}), address: 'fd00:10::2/64', gateway: 'fd00:10::1', interface: 2 }] : []),
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, ...(dualStack ? [{ dst: '::/0', gw: 'fd00:10::1' }] : [])],
    dns,
  };
}

describe('ADD prints the whole document of its version', () => {
  for (const version of SUPPORTED_VERSIONS) {
    test(`ADD with cniVersion ${version}`, async () => {
      const res = await invoke(addEnv(), netConf({ cniVersion: version, dns: { nameservers: ['10.96.0.10'], bogus: true } }));
      assert.equal(res.code, 0, res.out[0]);
      assert.equal(res.out.length, 1);
      assert.deepEqual(res.json, expectedAdd(version, { dns: { nameservers: ['10.96.0.10'] } }));
    });
  }
});

describe('error documents', () => {
  for (const version of SUPPORTED_VERSIONS) {
    test(`${version}: {cniVersion, code, msg}, and details only when there are some`, async () => {
      const res = await invoke({ ...addEnv(), CNI_NETNS: 'relative/netns' }, netConf({ cniVersion: version }));
      assert.equal(res.code, 1);
      assert.equal(res.out.length, 1);
      assert.deepEqual(res.json, { cniVersion: version, code: 4, msg: 'CNI_NETNS "relative/netns" must be an absolute path' });
    });
  }
  for (const version of SUPPORTED_VERSIONS) {
    test(`${version}: with details: {cniVersion, code, msg, details}`, async () => {
      const { runPlugin } = await import('../../../cni/skel.ts');
      const { CniError } = await import('../../../cni/errors.ts');
      const busy = async () => {
        throw new CniError(11, 'IPAM store busy', 'another ADD holds it; retry');
      };
      const out: string[] = [];
      const code = await runPlugin({ env: addEnv(), stdin: JSON.stringify(netConf({ cniVersion: version })), stdout: (t) => out.push(t) }, {
        run: unexpectedProcess,
        createKernel: () => new FakeKernel(),
        commands: { ADD: busy, DEL: busy, CHECK: busy, STATUS: busy, GC: busy },
        createLogger: () => captureLogger(),
        createStore: () => new MemoryStore(),
      });
      assert.equal(code, 1);
      assert.deepEqual(JSON.parse(out[0]!), { cniVersion: version, code: 11, msg: 'IPAM store busy', details: 'another ADD holds it; retry' });
    });
  }
  test('an unparsable config is reported in the newest version, as libcni expects', async () => {
    const out: string[] = [];
    const { runPlugin } = await import('../../../cni/skel.ts');
    const code = await runPlugin({ env: addEnv(), stdin: '{', stdout: (t) => out.push(t) }, {
      run: unexpectedProcess,
      createKernel: () => new FakeKernel(),
      commands: {} as never,
      createLogger: () => { throw new Error('unused'); },
      createStore: () => { throw new Error('unused'); },
    });
    assert.equal(code, 1);
    const doc = JSON.parse(out[0]!);
    assert.deepEqual(Object.keys(doc), ['cniVersion', 'code', 'msg']);
    assert.equal(doc.code, 6);
  });
});
describe('ADD prints both addresses in the document of its version', () => {
  for (const version of SUPPORTED_VERSIONS) {
    test(`dual-stack ADD with cniVersion ${version}`, async () => {
      const sys = fakeProcSys();
      const res = await invoke(addEnv(), netConf({ cniVersion: version, ipam: DUAL }), { procSys: sys.root });
      assert.equal(res.code, 0, res.out[0]);
      assert.deepEqual(res.json, expectedAdd(version, { dualStack: true }));
      assert.equal(sys.acceptRa(), '0\n', 'the bridge no longer accepts router advertisements');
    });
  }
  test('IPv6-only ADD in 0.3.1: one address of version "6", its default route, MAC from the address', async () => {
    const res = await invoke(addEnv(), netConf({ cniVersion: '0.3.1', ipam: { subnet: 'fd00:10::/120' } }), { procSys: fakeProcSys().root });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(res.json?.ips, [{ version: '6', address: 'fd00:10::2/120', gateway: 'fd00:10::1', interface: 2 }]);
    assert.deepEqual(res.json?.routes, [{ dst: '::/0', gw: 'fd00:10::1' }]);
    assert.equal(res.json?.interfaces[2].mac, '0a:58:00:00:00:02');
  });
  test('one batch on the node and one in the pod, whatever the families; both families configured in each', async () => {
    const kernel = new FakeKernel();
    assert.equal((await invoke(addEnv(), netConf({ ipam: DUAL }), { kernel, procSys: fakeProcSys().root })).code, 0);
    assert.deepEqual(kernel.calls.map((c) => [c.method, 'netns' in c ? c.netns : 'node']), [['apply', 'node'], ['apply', podNetns('c1')]]);
    assert.deepEqual(kernel.link('cni0')?.addresses?.map(formatCidr), ['10.0.0.1/24', 'fd00:10::1/64', 'fe80::1/64']);
    assert.deepEqual(kernel.link('eth0', podNetns('c1'))?.addresses?.map(formatCidr), ['10.0.0.2/24', 'fd00:10::2/64']);
    assert.deepEqual(kernel.routes(podNetns('c1')), [{ dst: '0.0.0.0/0', gateway: '10.0.0.1', dev: 'eth0' }, { dst: '::/0', gateway: 'fd00:10::1', dev: 'eth0' }]);
  });
});

