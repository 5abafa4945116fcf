// The FakeKernel the plugin's command tests run against (test/fixtures/fake-kernel.ts): its
// answers must be the ones the real backends give, or those tests prove nothing. What rtnetlink
// does here is pinned in netlink-kernel.test.ts; these check the fake does the same.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../lib/cidr.ts';
import type { Change } from '../../lib/kernel/change.ts';
import { KernelChangeError, KernelError } from '../../lib/kernel/errors.ts';
import { FakeKernel } from '../fixtures/fake-kernel.ts';

const POD = '/run/netns/pod';
type ChangeOf<Op extends Change['op']> = Extract<Change, { op: Op }>;
const bridge: ChangeOf<'add-bridge'> = { op: 'add-bridge', name: 'cni0', mac: '0a:58:0a:00:00:01', mtu: 1500 };
const veth: ChangeOf<'add-veth'> = { op: 'add-veth', name: 'bw1', mac: '02:00:00:00:00:05', mtu: 1500, peer: { name: 'eth0', mac: '0a:58:0a:00:00:07', mtu: 1500, netns: POD } };
const port: Change = { op: 'attach-port', link: 'bw1', bridge: 'cni0', alias: 'bridgeway:n:c:eth0' };
const podSide: Change[] = [
  { op: 'set-up', link: 'lo' },
  { op: 'add-address', link: 'eth0', address: parseCidr('10.0.0.7/24')! },
  { op: 'set-up', link: 'eth0' },
  { op: 'add-route', dst: parseCidr('0.0.0.0/0')!, gateway: parseIp('10.0.0.1')!, link: 'eth0' },
];
const rejection = (promise: Promise<unknown>) => promise.then(() => assert.fail('expected a rejection'), (e: unknown) => e);

describe('FakeKernel: the model', () => {
  test('a veth pair spans two namespaces; the read-back is KernelLinks, the master by name; changes are recorded per namespace', async () => {
    // The bridge has carrier once a port has: only after the pod's end is up.
    const kernel = new FakeKernel();
    const [bridgeRead, ports] = await kernel.apply([bridge, { op: 'set-up', link: 'cni0' }, veth, port], [{ op: 'show-link', link: 'cni0' }, { op: 'show-ports', bridge: 'cni0' }]);
    const [podRead] = await kernel.apply(podSide, [{ op: 'show-link', link: 'eth0' }], POD);
    assert.deepEqual(bridgeRead!.map((l) => [l.name, l.mac, l.operState]), [['cni0', '0a:58:0a:00:00:01', 'DOWN']]);
    assert.equal(kernel.link('cni0')?.operState, 'UP');
    assert.deepEqual(ports!.map((l) => [l.name, l.master, l.alias, l.portKind, l.hairpin]), [['bw1', 'cni0', 'bridgeway:n:c:eth0', 'bridge', false]]);
    assert.deepEqual(podRead!.map((l) => [l.name, l.mac, l.operState, l.flags]), [['eth0', '0a:58:0a:00:00:07', 'UP', ['UP', 'LOWER_UP']]]);
    assert.deepEqual(kernel.changes(), [bridge, { op: 'set-up', link: 'cni0' }, veth, port]);
    assert.deepEqual(kernel.changes(POD), podSide);
    assert.deepEqual(kernel.routes(POD), [{ dst: '0.0.0.0/0', gateway: '10.0.0.1', dev: 'eth0' }]);
  });

  test('deleting either end of a veth deletes both, with the routes through it', async () => {
    const kernel = new FakeKernel().seed([bridge, veth, port]).seed(podSide, POD);
    assert.equal(await kernel.deleteLinkIfPresent('bw1'), true);
    assert.deepEqual([kernel.linkNames(), kernel.linkNames(POD), kernel.routes(POD)], [['lo', 'cni0'], ['lo'], []]);
    assert.equal(await kernel.deleteLinkIfPresent('bw1'), false);
    assert.deepEqual(kernel.changes(), [{ op: 'delete-link', link: 'bw1' }, { op: 'delete-link', link: 'bw1' }], 'seeding is not recorded');
  });

  test('a route through a link that is down, or to a gateway outside its addresses, is refused', async () => {
    const kernel = new FakeKernel().seed([bridge, veth, port]);
    const route = podSide[3]!;
    const down = await rejection(kernel.apply([route], [], POD));
    assert.ok(down instanceof KernelChangeError);
    assert.equal(down.message, 'route add 0.0.0.0/0 via 10.0.0.1 dev eth0: Network is unreachable (Nexthop has invalid gateway)');
    kernel.seed([{ op: 'set-up', link: 'eth0' }, { op: 'add-address', link: 'eth0', address: parseCidr('10.9.0.7/24')! }], POD);
    assert.ok((await rejection(kernel.apply([route], [], POD))) instanceof KernelChangeError);
  });
});

describe('FakeKernel: tolerance, as the backends honour it', () => {
  test('the shared bridge may exist, a deleted link may be gone: both succeed and leave the model as it was', async () => {
    const kernel = new FakeKernel().seed([{ ...bridge, mac: '52:54:00:12:34:56' }]);
    await kernel.apply([bridge, { op: 'delete-link', link: 'gone' }]);
    assert.equal(kernel.link('cni0')?.mac, '52:54:00:12:34:56');
    await kernel.deleteLinksIfPresent(['gone', 'cni0']);
    assert.deepEqual(kernel.linkNames(), ['lo']);
  });

  test('a veth whose pod end\'s name is taken fails with kind "exists", in ip syntax; nothing after it is applied', async () => {
    const kernel = new FakeKernel().seed([bridge, { ...veth, name: 'other' }]);
    const error = await rejection(kernel.apply([veth, port]));
    assert.ok(error instanceof KernelChangeError);
    assert.deepEqual(error.failures, [{ what: 'link add bw1 mtu 1500 address 02:00:00:00:00:05 type veth peer name eth0 mtu 1500 address 0a:58:0a:00:00:07 netns /run/netns/pod', message: 'File exists', kind: 'exists' }]);
    assert.deepEqual(kernel.changes(), [veth], 'the port change never reached the kernel');
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0', 'other']);
  });

  test('"exists" is tolerated only where the change says so: on an address it is an error', async () => {
    const kernel = new FakeKernel().seed([bridge, { op: 'add-address', link: 'cni0', address: parseCidr('10.0.0.1/24')! }]);
    await kernel.apply([{ op: 'add-address', link: 'cni0', address: parseCidr('10.0.0.1/24')!, replace: true }]);
    const error = await rejection(kernel.apply([{ op: 'add-address', link: 'cni0', address: parseCidr('10.0.0.1/24')! }]));
    assert.ok(error instanceof KernelChangeError && error.has('exists'));
    assert.equal(error.message, 'addr add 10.0.0.1/24 dev cni0: File exists');
  });

  test('a show-link of a missing link fails the apply, kind "missing"', async () => {
    const error = await rejection(new FakeKernel().apply([], [{ op: 'show-link', link: 'cni0' }]));
    assert.ok(error instanceof KernelChangeError);
    assert.deepEqual(error.failures, [{ what: 'link show dev cni0', message: 'No such device', kind: 'missing' }]);
  });
});

describe('FakeKernel: injected failures', () => {
  test('the nth matching change fails with the given kind and words; the model is unchanged', async () => {
    const kernel = new FakeKernel().failNth({ op: 'set-up', netns: POD }, 2, { message: 'Operation not permitted' });
    kernel.seed([bridge, veth]);
    await kernel.apply([{ op: 'set-up', link: 'cni0' }]);
    const error = await rejection(kernel.apply([{ op: 'set-up', link: 'lo' }, { op: 'set-up', link: 'eth0' }], [], POD));
    assert.ok(error instanceof KernelChangeError);
    assert.equal(error.message, 'link set eth0 up: Operation not permitted');
    assert.equal(kernel.link('eth0', POD)?.flags.includes('UP'), false);
  });

  test('an injected failure of the kind a change tolerates is no error, as from the kernel', async () => {
    const kernel = new FakeKernel().seed([bridge]).failFrom({ op: 'delete-link' }, 1, { kind: 'missing', message: 'No such device' });
    await kernel.deleteLinksIfPresent(['cni0']);
    assert.deepEqual(kernel.linkNames(), ['lo', 'cni0'], 'the kernel said it was gone');
  });

  test('by link and namespace (null: the node\'s), sticky from the nth on; reads fail as KernelErrors', async () => {
    const kernel = new FakeKernel().seed([bridge, veth]).failFrom({ op: 'get-link', link: 'bw1', netns: null }, 2);
    assert.equal((await kernel.getLink('bw1'))?.name, 'bw1');
    for (let i = 0; i < 2; i++) {
      const error = await rejection(kernel.getLink('bw1'));
      assert.ok(error instanceof KernelError && !(error instanceof KernelChangeError));
      assert.equal((error as Error).message, 'get-link bw1: Operation not permitted');
    }
    assert.equal((await kernel.getLink('eth0', POD))?.name, 'eth0');
    assert.deepEqual(kernel.calls.map((c) => c.method), ['getLink', 'getLink', 'getLink', 'getLink']);
  });

  test('withoutCarrier: both ends up, yet the kernel has not seen carrier', async () => {
    const kernel = new FakeKernel().withoutCarrier('eth0', POD).seed([bridge, veth, port]).seed(podSide, POD);
    assert.equal(kernel.link('eth0', POD)?.operState, 'LOWERLAYERDOWN');
    assert.equal(kernel.link('bw1')?.operState, 'UP');
  });
});
