// lib/netlink/kernel.ts on Node: the socket opener is a recorder that answers like a kernel with
// a few links, and fails the requests a test names with the errno (and extended-ack text) the
// kernel would give. What is checked is the kernel layer's side: which errnos a change
// tolerates, the KernelChangeError (and its message) the others become, and one socket per
// namespace.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCidr } from '../../../../lib/cidr.ts';
import { KernelChangeError, KernelError } from '../../../../lib/kernel/errors.ts';
import { parseMac } from '../../../../lib/mac.ts';
import { bytes, encodeMessage, NLM_F, parseAttrs, parseMessages, readString, str, u32, u8, type Message } from '../../../../lib/netlink/codec.ts';
import type { Element } from '../../../../lib/antispoof/ruleset.ts';
import { ERRNO, NetlinkError } from '../../../../lib/netlink/errors.ts';
import { netlinkKernel } from '../../../../lib/netlink/kernel.ts';
import { ifinfomsg, IFLA, RTM } from '../../../../lib/netlink/rtnl-codec.ts';
import type { Transport } from '../../../../lib/netlink/transport.ts';

const EPERM = 1;
const STRERROR: Record<number, string> = { [EPERM]: 'Operation not permitted', [ERRNO.EEXIST]: 'File exists', [ERRNO.ENODEV]: 'No such device', [ERRNO.ENOENT]: 'No such file or directory' };

interface FakeLink {
  index: number;
  name: string;
  mac?: string;
  master?: number;
}

/** What a request failing in the kernel throws (socket.ts builds the same from errno and ack). */
const refusal = (what: string, errno: number, extAck?: string) => new NetlinkError(what, errno, STRERROR[errno] ?? `errno ${errno}`, extAck);

/**
 * An opener whose sockets record every request (namespace, `what`, message type) and answer as a
 * kernel holding `links`: RTM_GETLINK by name or index, dumps, an ACK for any change. `fail`
 * picks requests to refuse, by their `what` (the change's ip spelling).
 */
function fakeNetlink(links: FakeLink[], fail: (what: string) => NetlinkError | Error | undefined = () => undefined) {
  const sent: { netns: string | undefined; what: string; type: number }[] = [];
  const opened: (string | undefined)[] = [];
  const answer = (link: FakeLink, seq: number): Message =>
    parseMessages(encodeMessage(RTM.NEWLINK, 0, seq, ifinfomsg({ index: link.index, flags: 0x1 }), [
      str(IFLA.IFNAME, link.name),
      ...(link.mac ? [bytes(IFLA.ADDRESS, parseMac(link.mac))] : []),
      ...(link.master ? [u32(IFLA.MASTER, link.master)] : []),
      u8(IFLA.OPERSTATE, 6),
    ]))[0]!;
  const openSocket = (netns?: string): Transport => {
    opened.push(netns);
    let seq = 0;
    return {
      nextSeq: () => ++seq,
      request(what, message, seq) {
        const [m] = parseMessages(message);
        sent.push({ netns, what, type: m!.type });
        const error = fail(what);
        if (error) throw error;
        if (m!.type !== RTM.GETLINK) return [];
        if (m!.flags & NLM_F.DUMP) return links.map((l) => answer(l, seq));
        const index = new DataView(m!.payload.buffer, m!.payload.byteOffset).getInt32(4, true);
        const name = parseAttrs(m!.payload, 16).get(IFLA.IFNAME);
        const wanted = name ? new TextDecoder().decode(name.subarray(0, name.length - 1)) : undefined;
        const link = links.find((l) => (wanted ? l.name === wanted : l.index === index));
        if (!link) throw refusal(what, ERRNO.ENODEV);
        return [answer(link, seq)];
      },
    };
  };
  return { openSocket, sent, opened };
}

/** For tests without sysctls: the kernel must never enter a namespace. */
const NO_NAMESPACE_ENTRY = { runInNetns: () => assert.fail('no namespace entry expected') };

/**
 * A /proc/sys of plain files in a temp directory (net/ipv{4,6}/conf/{all,eth0}/…) and a
 * runInNetns that records, for each entry, the namespace and what the files hold when it leaves.
 */
function fakeProcSys(keys: string[]) {
  const procSys = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-procsys-'));
  for (const key of keys) {
    fs.mkdirSync(path.dirname(path.join(procSys, key)), { recursive: true });
    fs.writeFileSync(path.join(procSys, key), '1\n');
  }
  const values = () => Object.fromEntries(keys.map((key) => [key, fs.readFileSync(path.join(procSys, key), 'utf8')]));
  const entries: { netns: string; values: Record<string, string> }[] = [];
  const runInNetns = <T>(netns: string, action: () => T): T => {
    try {
      return action();
    } finally {
      entries.push({ netns, values: values() });
    }
  };
  return { procSys, runInNetns, entries, values, [Symbol.dispose]: () => fs.rmSync(procSys, { recursive: true, force: true }) };
}

const CNI0 = { index: 2, name: 'cni0', mac: '0a:58:0a:00:00:01' };
const PORT = { index: 5, name: 'bw1', mac: '02:00:00:00:00:05', master: 2 };

describe('netlinkKernel: errors the changes tolerate', () => {
  test('creating the shared bridge tolerates EEXIST and goes on; the read-back is KernelLinks, the master by name', async () => {
    const fake = fakeNetlink([CNI0, PORT], (what) => (what.startsWith('link add cni0') ? refusal(what, ERRNO.EEXIST) : undefined));
    const kernel = netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY);
    const [bridge, ports] = await kernel.apply(
      [{ op: 'add-bridge', name: 'cni0', mac: CNI0.mac, mtu: 1500 }, { op: 'set-up', link: 'cni0' }],
      [{ op: 'show-link', link: 'cni0' }, { op: 'show-ports', bridge: 'cni0' }],
    );
    assert.deepEqual(fake.sent.map((s) => s.what).slice(0, 2), ['link add cni0 address 0a:58:0a:00:00:01 mtu 1500 type bridge', 'link set cni0 up']);
    assert.deepEqual(bridge, [{ index: 2, name: 'cni0', mac: CNI0.mac, flags: ['UP'], operState: 'UP' }]);
    assert.deepEqual(ports, [{ index: 5, name: 'bw1', mac: PORT.mac, master: 'cni0', flags: ['UP'], operState: 'UP' }]);
  });

  test('deleting a link tolerates ENODEV', async () => {
    const fake = fakeNetlink([], (what) => (what.startsWith('link del') ? refusal(what, ERRNO.ENODEV) : undefined));
    await netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY).deleteLinksIfPresent(['bw1', 'bw2']);
    assert.deepEqual(fake.sent.map((s) => s.what), ['link del bw1', 'link del bw2']);
  });

  test('deleting several links goes on past one that fails, and the error names each failure', async () => {
    const fake = fakeNetlink([], (what) => (what === 'link del bw1' || what === 'link del bw3' ? refusal(what, EPERM) : undefined));
    const error = await netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY).deleteLinksIfPresent(['bw1', 'bw2', 'bw3']).catch((e: unknown) => e);
    assert.deepEqual(fake.sent.map((s) => s.what), ['link del bw1', 'link del bw2', 'link del bw3']);
    assert.ok(error instanceof KernelChangeError);
    assert.equal(error.message, 'rtnetlink: link del bw1: Operation not permitted; rtnetlink: link del bw3: Operation not permitted');
    assert.deepEqual(error.failures.map((f) => f.kind), ['other', 'other']);
  });
});

describe('netlinkKernel: errors that fail the batch', () => {
  test('EEXIST on the veth: a KernelChangeError of kind "exists", named in ip syntax, with the kernel\'s words; nothing after it is sent', async () => {
    const fake = fakeNetlink([CNI0], (what) => (what.startsWith('link add bw1') ? refusal(what, ERRNO.EEXIST, 'Link already exists') : undefined));
    const kernel = netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY);
    const error = await kernel.apply([
      { op: 'add-veth', name: 'bw1', mac: PORT.mac, mtu: 1500, peer: { name: 'eth0', mac: '0a:58:0a:00:00:07', mtu: 1500, netns: '/proc/self/ns/net' } },
      { op: 'attach-port', link: 'bw1', bridge: 'cni0', alias: 'bridgeway:n:c:eth0' },
    ]).catch((e: unknown) => e);
    assert.ok(error instanceof KernelChangeError);
    assert.equal(error.message,
      'rtnetlink: link add bw1 mtu 1500 address 02:00:00:00:00:05 type veth peer name eth0 mtu 1500 address 0a:58:0a:00:00:07 netns /proc/self/ns/net: File exists (Link already exists)');
    assert.equal(error.has('exists'), true);
    assert.equal(error.has('missing'), false);
    assert.deepEqual(fake.sent.map((s) => s.what), [error.failures[0]!.what]);
  });

  test('ENODEV and ENOENT are "missing", anything else "other"; a tolerated errno on the wrong change is no excuse', async () => {
    const cases: [number, string, 'exists' | 'missing' | 'other'][] = [
      [ERRNO.ENODEV, 'No such device', 'missing'],
      [ERRNO.ENOENT, 'No such file or directory', 'missing'],
      [EPERM, 'Operation not permitted', 'other'],
    ];
    for (const [errno, text, kind] of cases) {
      const fake = fakeNetlink([CNI0], (what) => (what.startsWith('link set') ? refusal(what, errno) : undefined));
      const error = await netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY).apply([{ op: 'set-up', link: 'cni0' }]).catch((e: unknown) => e);
      assert.ok(error instanceof KernelChangeError);
      assert.deepEqual(error.failures, [{ what: 'link set cni0 up', message: text, kind }]);
    }
    // "exists" is tolerated only where the change says so: on an address it is an error.
    const fake = fakeNetlink([CNI0], (what) => (what.startsWith('addr') ? refusal(what, ERRNO.EEXIST) : undefined));
    const error = await netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY).apply([{ op: 'add-address', link: 'cni0', address: parseCidr('10.0.0.1/24')! }]).catch((e: unknown) => e);
    assert.ok(error instanceof KernelChangeError);
    assert.equal(error.message, 'rtnetlink: addr add 10.0.0.1/24 dev cni0: File exists');
  });

  test('an error that is not the kernel\'s passes through unchanged', async () => {
    const bug = new Error('truncated answer');
    const fake = fakeNetlink([CNI0], () => bug);
    await assert.rejects(netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY).apply([{ op: 'set-up', link: 'cni0' }]), (e) => e === bug);
  });
});

describe('netlinkKernel: single operations', () => {
  test('deleteLinkIfPresent: true when the kernel deleted it, false on ENODEV, a KernelError otherwise', async () => {
    const errnos: Record<string, number> = { 'link del gone': ERRNO.ENODEV, 'link del locked': EPERM };
    const kernel = netlinkKernel(fakeNetlink([], (what) => (errnos[what] ? refusal(what, errnos[what]!) : undefined)).openSocket, NO_NAMESPACE_ENTRY);
    assert.equal(await kernel.deleteLinkIfPresent('bw1'), true);
    assert.equal(await kernel.deleteLinkIfPresent('gone'), false);
    await assert.rejects(kernel.deleteLinkIfPresent('locked'), (e) => e instanceof KernelError && e.message === 'link del locked: Operation not permitted');
  });

  test('getLink: undefined for a link the kernel does not know', async () => {
    const kernel = netlinkKernel(fakeNetlink([CNI0]).openSocket, NO_NAMESPACE_ENTRY);
    assert.equal(await kernel.getLink('nope'), undefined);
    assert.equal((await kernel.getLink('cni0'))?.mac, CNI0.mac);
  });

  test('one socket per namespace, opened on first use and kept', async () => {
    const fake = fakeNetlink([CNI0]);
    const kernel = netlinkKernel(fake.openSocket, NO_NAMESPACE_ENTRY);
    await kernel.getLink('cni0');
    await kernel.getLink('cni0', '/run/netns/pod');
    await kernel.apply([{ op: 'set-up', link: 'cni0' }]);
    await kernel.apply([{ op: 'set-up', link: 'cni0' }], [], '/run/netns/pod');
    assert.deepEqual(fake.opened, [undefined, '/run/netns/pod']);
    assert.deepEqual(fake.sent.map((s) => s.netns), [undefined, '/run/netns/pod', undefined, '/run/netns/pod']);
  });
});

describe('netlinkKernel: sysctls, written from inside the namespace', () => {
  const RA = 'net/ipv6/conf/eth0/accept_ra';
  const REDIRECTS = 'net/ipv4/conf/all/accept_redirects';
  const POD = '/run/netns/pod';

  test('each write happens inside the pod\'s namespace, in order with the messages; nothing sent for it', async () => {
    using proc = fakeProcSys([RA, REDIRECTS]);
    const fake = fakeNetlink([CNI0]);
    const kernel = netlinkKernel(fake.openSocket, proc);
    await kernel.apply([
      { op: 'set-sysctl', key: RA, value: '0', tolerate: 'missing' },
      { op: 'set-sysctl', key: REDIRECTS, value: '0' },
      { op: 'set-up', link: 'cni0' },
    ], [], POD);
    assert.deepEqual(proc.entries, [
      { netns: POD, values: { [RA]: '0\n', [REDIRECTS]: '1\n' } },
      { netns: POD, values: { [RA]: '0\n', [REDIRECTS]: '0\n' } },
    ]);
    assert.deepEqual(fake.sent.map((s) => [s.netns, s.what]), [[POD, 'link set cni0 up']]);
  });

  test('readSysctls reads inside the namespace; a key the kernel lacks reads as undefined', async () => {
    using proc = fakeProcSys([REDIRECTS]);
    const values = await netlinkKernel(fakeNetlink([]).openSocket, proc).readSysctls([REDIRECTS, RA], POD);
    assert.deepEqual([...values], [[REDIRECTS, '1'], [RA, undefined]]);
    assert.deepEqual(proc.entries, [{ netns: POD, values: { [REDIRECTS]: '1\n' } }], 'read from inside the pod');
  });

  test('without a namespace (the node\'s) the write is made right here, without entering one', async () => {
    using proc = fakeProcSys([REDIRECTS]);
    await netlinkKernel(fakeNetlink([]).openSocket, proc).apply([{ op: 'set-sysctl', key: REDIRECTS, value: '0' }]);
    assert.deepEqual([proc.entries, proc.values()], [[], { [REDIRECTS]: '0\n' }]);
  });

  test('a missing key is tolerated when the change says so; otherwise a KernelChangeError "missing", named as sysctl -w, and nothing after it', async () => {
    using proc = fakeProcSys([]);
    const fake = fakeNetlink([CNI0]);
    const kernel = netlinkKernel(fake.openSocket, proc);
    await kernel.apply([{ op: 'set-sysctl', key: RA, value: '0', tolerate: 'missing' }], [], POD);
    const error = await kernel.apply([{ op: 'set-sysctl', key: REDIRECTS, value: '0' }, { op: 'set-up', link: 'cni0' }], [], POD).catch((e: unknown) => e);
    assert.ok(error instanceof KernelChangeError);
    assert.deepEqual(error.failures.map((f) => [f.what, f.kind]), [[`sysctl -w ${REDIRECTS}=0`, 'missing']]);
    assert.match(error.message, /^sysctl -w net\/ipv4\/conf\/all\/accept_redirects=0: ENOENT/);
    assert.deepEqual(fake.sent, []);
  });

  test('a failure to enter the namespace is no sysctl\'s failure: it passes through unchanged', async () => {
    using proc = fakeProcSys([RA]);
    const entering = new NetlinkError(`setns ${POD}`, EPERM, 'Operation not permitted');
    const kernel = netlinkKernel(fakeNetlink([]).openSocket, { procSys: proc.procSys, runInNetns: () => { throw entering; } });
    await assert.rejects(kernel.apply([{ op: 'set-sysctl', key: RA, value: '0', tolerate: 'missing' }], [], POD), (e) => e === entering);
  });

  test('a key that would leave /proc/sys is refused before anything is written', async () => {
    using proc = fakeProcSys([RA]);
    const kernel = netlinkKernel(fakeNetlink([]).openSocket, proc);
    await assert.rejects(kernel.apply([{ op: 'set-sysctl', key: 'net/../../etc/passwd', value: '0' }], [], POD), /invalid sysctl key/);
  });
});

describe('netlinkKernel: the anti-spoofing changes over NETLINK_NETFILTER', async () => {
  const { parseIp } = await import('../../../../lib/cidr.ts');
  const { antispoofRuleset, attachmentElements } = await import('../../../../lib/antispoof/ruleset.ts');
  const { elementMessages } = await import('../../../../lib/antispoof/netlink.ts');
  const { elementId } = await import('../../../../lib/antispoof/nft-json.ts');
  const { NFT_MSG_GETSETELEM, NFTA_SET_ELEM_LIST } = await import('../../../../lib/netlink/nft-codec.ts');
  const { NftablesUnavailableError } = await import('../../../../lib/kernel/errors.ts');
  const elements = attachmentElements({ port: 'bw1', mac: '0a:58:0a:00:00:07', addresses: [parseIp('10.0.0.7')!] });
  const NEWTABLE = 0, NEWSETELEM = 12, DELSETELEM = 14;
  /**
   * An nfnetlink opener whose sockets record each batch's message types and refuse as `refuse`
   * says, and answer a set's GETSETELEM dump with the `held` elements of that set (built with
   * the encoder, as the kernel answers NEWSETELEM), or ENOENT for a set named in `missingSets`.
   */
  function fakeNetfilter(refuse: (types: number[], batch: number) => number | undefined = () => undefined, held: Element[] = [], missingSets: string[] = []) {
    const batches: number[][] = [];
    const opened: (string | undefined)[] = [];
    const dumps: string[] = [];
    const open = (netns?: string) => {
      opened.push(netns);
      let seq = 0;
      return {
        nextSeq: () => ++seq,
        request: (_what: string, message: Uint8Array, _seq: number, dump: boolean): Message[] => {
          const [request] = parseMessages(message);
          assert.ok(dump && (request!.type & 0xff) === NFT_MSG_GETSETELEM && request!.flags === (NLM_F.REQUEST | NLM_F.DUMP));
          const set = readString(parseAttrs(request!.payload, 4).get(NFTA_SET_ELEM_LIST.SET))!;
          dumps.push(set);
          if (missingSets.includes(set)) throw new NetlinkError(`list set ${set}`, ERRNO.ENOENT, 'No such file or directory');
          const mine = held.filter((e) => e.set === set);
          if (mine.length === 0) return [];
          const answer = elementMessages(antispoofRuleset(), 'add', mine)[0]!;
          return parseMessages(encodeMessage((10 << 8) | NEWSETELEM, NLM_F.MULTI, request!.seq, Uint8Array.of(7, 0, 0, 0), answer.attrs));
        },
        exchange: (_what: string, buffer: Uint8Array, seqs: readonly number[]) => {
          const types = parseMessages(buffer).slice(1, -1).map((m) => m.type & 0xff);
          batches.push(types);
          const errno = refuse(types, batches.length - 1) ?? 0;
          return seqs.map((s, i) => ({ seq: s, errno: i === 0 ? errno : 0 }));
        },
      };
    };
    return { open, batches, opened, dumps };
  }

  test('listGuards: a GETSETELEM dump per set, decoded back into elements by port; a missing set holds none', async () => {
    const other = attachmentElements({ port: 'bw2', mac: '0a:58:fd:00:00:09', addresses: [parseIp('fd00::9')!] });
    const nf = fakeNetfilter(undefined, [...elements, ...other], ['port_nd_target']);
    const guards = await netlinkKernel(fakeNetlink([]).openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open }).listGuards();
    assert.deepEqual(nf.dumps, antispoofRuleset().sets.map((s) => s.name));
    const withoutNd = (list: Element[]) => list.filter((e) => e.set !== 'port_nd_target');
    assert.deepEqual([...guards.keys()], ['bw1', 'bw2']);
    assert.deepEqual(new Set(guards.get('bw1')!.map(elementId)), new Set(withoutNd(elements).map(elementId)));
    assert.deepEqual(new Set(guards.get('bw2')!.map(elementId)), new Set(withoutNd(other).map(elementId)));
  });

  test('listGuards on a node without the table: ENOENT for every set, so no elements', async () => {
    const nf = fakeNetfilter(undefined, [], antispoofRuleset().sets.map((s) => s.name));
    assert.deepEqual(await netlinkKernel(fakeNetlink([]).openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open }).listGuards(), new Map());
  });

  test('a batch without such a change opens no nfnetlink socket (CHECK, DEL with antiSpoofing false pay nothing)', async () => {
    const nf = fakeNetfilter();
    const fake = fakeNetlink([{ index: 2, name: 'cni0' }]);
    await netlinkKernel(fake.openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open }).apply([{ op: 'set-up', link: 'cni0' }]);
    assert.deepEqual(nf.opened, []);
  });

  test('guard-port: one transaction of elements in the steady state, on one socket in the batch\'s (the node\'s) namespace', async () => {
    const nf = fakeNetfilter();
    const kernel = netlinkKernel(fakeNetlink([]).openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open });
    await kernel.apply([{ op: 'guard-port', link: 'bw1', elements }]);
    await kernel.apply([{ op: 'unguard-port', link: 'bw1', elements }]);
    assert.deepEqual(nf.opened, [undefined]);
    assert.deepEqual(nf.batches, [Array(6).fill(NEWSETELEM), Array(6).fill(DELSETELEM)], 'one message per set: guarded_ports and the five sets of allowed values');
  });

  test('guard-port on a node without the table: ENOENT, then the table, then the elements again', async () => {
    const nf = fakeNetfilter((_types, batch) => (batch === 0 ? ERRNO.ENOENT : undefined));
    await netlinkKernel(fakeNetlink([]).openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open }).apply([{ op: 'guard-port', link: 'bw1', elements }]);
    assert.deepEqual(nf.batches.map((types) => types[0]), [NEWSETELEM, NEWTABLE, NEWSETELEM]);
  });

  test('a kernel without the bridge family: NftablesUnavailableError naming the cause and antiSpoofing: false', async () => {
    const EOPNOTSUPP = 95;
    const nf = fakeNetfilter((_types, batch) => (batch === 0 ? ERRNO.ENOENT : EOPNOTSUPP));
    const error = await netlinkKernel(fakeNetlink([]).openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open })
      .apply([{ op: 'guard-port', link: 'bw1', elements }]).catch((e: unknown) => e);
    assert.ok(error instanceof NftablesUnavailableError, String(error));
    assert.match(error.message, /create table bridge bridgeway: Operation not supported.*"antiSpoofing": false/);
  });

  test('another refusal: a KernelChangeError naming the change in nft syntax', async () => {
    const nf = fakeNetfilter(() => 12);
    const error = await netlinkKernel(fakeNetlink([]).openSocket, { ...NO_NAMESPACE_ENTRY, openNetfilter: nf.open })
      .apply([{ op: 'guard-port', link: 'bw1', elements }]).catch((e: unknown) => e);
    assert.ok(error instanceof KernelChangeError);
    assert.match(error.message, /^nfnetlink: nft 'add element bridge bridgeway guarded_ports \{ "bw1" \}; add element bridge bridgeway port_mac \{ "bw1" \. 0a:58:0a:00:00:07 \};.*': Cannot allocate memory$/);
  });
});
