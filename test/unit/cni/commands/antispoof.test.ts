// Anti-spoofing through the real commands against the FakeKernel (issue 17): ADD guards the
// pod's port as the last node change, before the pod's interface comes up; a refused guard, or
// any later failure, rolls the ADD back with the elements removed before the veth; DEL removes
// exactly that attachment's elements and keeps the address until they are gone; a network with
// "antiSpoofing": false asks for no anti-spoofing change at all.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseIp } from '../../../../lib/cidr.ts';
import { MemoryStore } from '../../../../ipam/memory-store.ts';
import { podElements, unguardPort } from '../../../../cni/plan.ts';
import type { Change, LinkQuery } from '../../../../lib/kernel/change.ts';
import { NftablesUnavailableError } from '../../../../lib/kernel/errors.ts';
import type { KernelLink } from '../../../../lib/kernel/link.ts';
import { hostVethName } from '../../../../lib/names.ts';
import { FakeKernel } from '../../../fixtures/fake-kernel.ts';
import { addEnv, delEnv, invoke, netConf, podNetns } from '../../../fixtures/plugin-kernel.ts';

const VETH = hostVethName('c1', 'eth0');
const ELEMENTS = podElements(VETH, [parseIp('10.0.0.2')!]);
const reserved = (store: MemoryStore) => store.list().map((r) => formatIp({ family: 4, value: r.ip }));
const ops = (changes: Change[]) => changes.map((c) => c.op);

describe('ADD guards the pod\'s port', () => {
  test('the port\'s elements are in the table before the pod\'s interface comes up', async () => {
    const kernel = new FakeKernel();
    let guardedWhenPodUp: unknown;
    const apply = kernel.apply.bind(kernel);
    kernel.apply = async (changes: readonly Change[], queries?: readonly LinkQuery[], netns?: string): Promise<KernelLink[][]> => {
      if (netns === podNetns('c1')) guardedWhenPodUp = kernel.guardedElements({ port: VETH });
      return apply(changes, queries, netns);
    };
    const res = await invoke(addEnv(), netConf(), { kernel });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(kernel.guardedElements(), ELEMENTS);
    assert.deepEqual(guardedWhenPodUp, ELEMENTS, 'guarded before the pod batch ran');
    assert.deepEqual(ops(kernel.changes()).slice(-3), ['attach-port', 'set-hairpin', 'guard-port']);
  });

  test('a refused guard: code 103 naming it in nft syntax; elements and veth removed, address released, pod untouched', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().failNth({ op: 'guard-port' }, 1, { message: 'Cannot allocate memory' });
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, new RegExp(`^nft 'add element bridge bridgeway guarded_ports \\{ "${VETH}" \\}; add element bridge bridgeway port_mac \\{ "${VETH}" \\. 0a:58:0a:00:00:02 \\};.*: Cannot allocate memory$`));
    assert.deepEqual(ops(kernel.changes()).slice(-3), ['guard-port', 'unguard-port', 'delete-link']);
    assert.deepEqual([kernel.guardedElements(), kernel.linkNames(), reserved(store), kernel.changes(podNetns('c1'))], [[], ['lo', 'cni0'], [], []]);
  });

  test('a node without nf_tables bridge support: code 11 (try again later) with the cause and the antiSpoofing: false way out; nothing left', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel();
    const apply = kernel.apply.bind(kernel);
    kernel.apply = async (changes: readonly Change[], queries?: readonly LinkQuery[], netns?: string): Promise<KernelLink[][]> => {
      if (changes.some((c) => c.op === 'guard-port')) {
        await apply(changes.filter((c) => c.op !== 'guard-port'), [], netns);
        throw new NftablesUnavailableError('nf_tables: create table bridge bridgeway: Operation not supported');
      }
      return apply(changes, queries, netns);
    };
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 11);
    assert.match(res.json?.msg, /^anti-spoofing needs nf_tables with the bridge family on the node \(nf_tables: create table bridge bridgeway: Operation not supported\).*"antiSpoofing": false/);
    assert.deepEqual([kernel.linkNames(), reserved(store)], [['lo', 'cni0'], []]);
  });

  test('a failure after the guard (the pod side) removes the elements first, then the veth', async () => {
    const store = new MemoryStore();
    const kernel = new FakeKernel().failNth({ op: 'add-route' }, 1, { message: 'Network is unreachable' });
    const res = await invoke(addEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.deepEqual(kernel.changes().slice(-2), [unguardPort(VETH, ELEMENTS), { op: 'delete-link', link: VETH }]);
    assert.deepEqual([kernel.guardedElements(), reserved(store)], [[], []]);
  });
});

describe('DEL removes the attachment\'s elements', () => {
  test('two pods, one DEL: the other pod\'s elements stay; a second DEL changes nothing', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    assert.equal((await invoke(addEnv('c1'), netConf(), { kernel, store })).code, 0);
    assert.equal((await invoke(addEnv('c2'), netConf(), { kernel, store })).code, 0);
    const other = kernel.guardedElements({ port: hostVethName('c2', 'eth0') });
    assert.equal(other.length, ELEMENTS.length);
    assert.equal((await invoke(delEnv('c1'), netConf(), { kernel, store })).code, 0);
    assert.deepEqual(kernel.guardedElements(), other);
    const before = kernel.changes().length;
    assert.equal((await invoke(delEnv('c1'), netConf(), { kernel, store })).code, 0);
    assert.deepEqual(ops(kernel.changes().slice(before)), ['delete-link'], 'nothing held any more: no anti-spoofing change');
  });

  test('a refused unguard keeps the address (a retried DEL can still find the elements), and the retry cleans up', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    assert.equal((await invoke(addEnv(), netConf(), { kernel, store })).code, 0);
    kernel.failNth({ op: 'unguard-port' }, 1, { message: 'Device or resource busy' });
    const res = await invoke(delEnv(), netConf(), { kernel, store });
    assert.equal(res.json?.code, 103);
    assert.match(res.json?.msg, new RegExp(`^DEL incomplete: remove the anti-spoofing elements of ${VETH}: nft 'delete element .*Device or resource busy; release address: kept until the anti-spoofing elements are removed$`));
    assert.deepEqual([reserved(store), kernel.linkNames()], [['10.0.0.2'], ['lo', 'cni0']], 'the veth went, the address stays');
    assert.equal((await invoke(delEnv(), netConf(), { kernel, store })).code, 0);
    assert.deepEqual([kernel.guardedElements(), reserved(store)], [[], []]);
  });

  test('delegated IPAM: the elements come from prevResult', async () => {
    const kernel = new FakeKernel().seed([{ op: 'guard-port', link: VETH, elements: podElements(VETH, [parseIp('10.0.0.9')!]) }]);
    const prevResult = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.9/24' }] };
    const res = await invoke({ ...delEnv(), CNI_PATH: '/nonexistent' }, netConf({ ipam: { type: 'fake-ipam' }, prevResult }), { kernel });
    assert.deepEqual(kernel.guardedElements(), [], res.out[0]);
  });
});

describe('"antiSpoofing": false', () => {
  test('ADD and DEL ask for no anti-spoofing change', async () => {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    const off = netConf({ antiSpoofing: false });
    assert.equal((await invoke(addEnv(), off, { kernel, store })).code, 0);
    assert.equal((await invoke(delEnv(), off, { kernel, store })).code, 0);
    const all = [...kernel.changes(), ...kernel.changes(podNetns('c1'))];
    assert.deepEqual(all.filter((c) => c.op === 'guard-port' || c.op === 'unguard-port'), []);
    assert.deepEqual(reserved(store), []);
  });
});

describe('GC removes the elements of ports that no longer exist', () => {
  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: '/nonexistent' };
  const gcConf = (...valid: string[]) => netConf({ 'cni.dev/valid-attachments': valid.map((containerId) => ({ containerID: containerId, ifname: 'eth0' })) });
  const port = (containerId: string) => hostVethName(containerId, 'eth0');
  /** Pods attached by real ADDs; then the netns of each in `netnsGone` deleted without DEL (its veth pair goes with it). */
  async function node(pods: string[], netnsGone: string[] = []) {
    const kernel = new FakeKernel();
    const store = new MemoryStore();
    for (const pod of pods) assert.equal((await invoke(addEnv(pod), netConf(), { kernel, store })).code, 0);
    for (const pod of netnsGone) kernel.seed([{ op: 'delete-link', link: 'eth0' }], podNetns(pod));
    return { kernel, store };
  }
  const ports = (kernel: FakeKernel) => [...new Set(kernel.guardedElements().map((e) => (e.key[0] as { ifname: string }).ifname))].sort();

  test('a pod whose netns went without DEL, and a dead pod whose veth GC deletes: both lose their elements; a live pod keeps its', async () => {
    const { kernel, store } = await node(['gone', 'dead', 'live'], ['gone']);
    assert.deepEqual(ports(kernel), [port('gone'), port('dead'), port('live')].sort());
    const res = await invoke(gcEnv, gcConf('live', 'gone-but-listed'), { kernel, store });
    assert.equal(res.code, 0, res.out[0]);
    assert.deepEqual(ports(kernel), [port('live')]);
    assert.deepEqual(kernel.guardedElements({ port: port('live') }).length, ELEMENTS.length);
    const order = kernel.changes().filter((c) => c.op === 'unguard-port' || c.op === 'delete-link').map((c) => [c.op, 'link' in c ? c.link : '']);
    assert.deepEqual(new Set(order.slice(0, 2).map(([op]) => op)), new Set(['unguard-port']), 'elements before the veth, as in DEL');
    assert.deepEqual(order.at(-1), ['delete-link', port('dead')]);
  });

  test('never judged gone: a live veth\'s port, a port the runtime still lists, a name hostVethName() does not make', async () => {
    const listed = podElements(port('listed'), [parseIp('10.0.0.50')!]);
    const foreign = podElements('eth9', [parseIp('10.0.0.51')!]);
    const prefixOnly = podElements('bwsomething', [parseIp('10.0.0.52')!]);
    const { kernel, store } = await node(['live']);
    kernel.seed([{ op: 'guard-port', link: 'x', elements: [...listed, ...foreign, ...prefixOnly] }]);
    const before = kernel.guardedElements();
    assert.equal((await invoke(gcEnv, gcConf('live', 'listed'), { kernel, store })).code, 0);
    assert.deepEqual(kernel.guardedElements(), before);
    assert.deepEqual(kernel.changes().filter((c) => c.op === 'unguard-port'), []);
  });

  test('the veths cannot be listed: no port is judged gone (every port would look so), and the error says why', async () => {
    const { kernel, store } = await node(['live']);
    kernel.failNth({ op: 'list-links' }, 1, { message: 'Cannot allocate memory' });
    const res = await invoke(gcEnv, gcConf(), { kernel, store });
    assert.equal(res.json?.code, 5);
    assert.match(res.json?.msg, /^GC incomplete: list veths: list-links: Cannot allocate memory/);
    assert.equal(kernel.guardedElements().length, ELEMENTS.length);
  });

  test('keeps going past a refused unguard, names it, and the next GC finishes the job', async () => {
    const { kernel, store } = await node(['g1', 'g2', 'live'], ['g1', 'g2']);
    kernel.failNth({ op: 'unguard-port' }, 1, { message: 'Device or resource busy' });
    const res = await invoke(gcEnv, gcConf('live'), { kernel, store });
    assert.match(res.json?.msg, /^GC incomplete: remove the anti-spoofing elements of bw[0-9a-f]{12}: nft 'delete element .*Device or resource busy$/);
    assert.equal(ports(kernel).length, 2, 'one gone port done, one left');
    assert.equal((await invoke(gcEnv, gcConf('live'), { kernel, store })).code, 0);
    assert.deepEqual(ports(kernel), [port('live')]);
  });

  test('the elements cannot be read: veths and addresses are still collected, the error names the read', async () => {
    const { kernel, store } = await node(['dead']);
    kernel.failNth({ op: 'list-guards' }, 1, { message: 'Operation not permitted' });
    const res = await invoke(gcEnv, gcConf(), { kernel, store });
    assert.match(res.json?.msg, /^GC incomplete: list anti-spoofing elements: list-guards: Operation not permitted$/);
    assert.deepEqual([kernel.linkNames(), reserved(store)], [['lo', 'cni0'], []]);
  });
});
