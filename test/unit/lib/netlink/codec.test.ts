// The rtnetlink messages the plugin sends, byte by byte where it matters, and the decoding of
// what the kernel answers. Pure: the socket is replaced by a transport that records.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { bytes, decodeError, encodeMessage, nest, NLM_F, NLMSG_ERROR, parseAttrs, parseMessages, str, u32, u8, type Message } from '../../../../lib/netlink/codec.ts';
import { decodeLink, decodeRoute, ifinfomsg, IFLA, IFLA_INFO, RTA, RTM, rtmsg } from '../../../../lib/netlink/rtnl-codec.ts';
import { addressBytes, addressFromBytes, Rtnl } from '../../../../lib/netlink/rtnl.ts';
import type { Transport } from '../../../../lib/netlink/transport.ts';

/** A transport that keeps every request and answers each with an ACK. */
function recorder(): Transport & { sent: Message[] } {
  let seq = 0;
  const sent: Message[] = [];
  return {
    sent,
    nextSeq: () => ++seq,
    request: (_what, message) => {
      sent.push(...parseMessages(message));
      return [];
    },
  };
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe('encoding', () => {
  test('nlmsghdr, aligned attributes and nesting', () => {
    const message = encodeMessage(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK, 7, ifinfomsg(), [str(IFLA.IFNAME, 'br0'), nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'bridge')])]);
    // 16 header + 16 ifinfomsg + 8 ("br0\0" + 4) + 4 + 12 ("bridge\0" + 4, padded to 12)
    assert.equal(message.length, 56);
    assert.equal(view(message).getUint32(0, true), 56);
    const [parsed] = parseMessages(message);
    assert.deepEqual({ type: parsed!.type, flags: parsed!.flags, seq: parsed!.seq }, { type: RTM.NEWLINK, flags: 5, seq: 7 });
    const attrs = parseAttrs(parsed!.payload, 16);
    assert.deepEqual([...attrs.get(IFLA.IFNAME)!], [...Buffer.from('br0\0')]);
    assert.deepEqual([...parseAttrs(attrs.get(IFLA.LINKINFO)!).get(IFLA_INFO.KIND)!], [...Buffer.from('bridge\0')]);
  });

  test('addresses as network-order bytes, both ways', () => {
    assert.deepEqual([...addressBytes(parseIp('10.244.1.7')!)], [10, 244, 1, 7]);
    const v6 = addressBytes(parseIp('fd00:10::1')!);
    assert.deepEqual([...v6.subarray(0, 4), v6[15]], [0xfd, 0, 0, 0x10, 1]);
    assert.deepEqual(addressFromBytes(v6), parseIp('fd00:10::1'));
    assert.equal(addressFromBytes(new Uint8Array(5)), undefined);
  });
});

describe('requests carry what `ip` sends for the same command', () => {
  test('an IPv6 address: IFA_F_NODAD, global scope, both IFA_LOCAL and IFA_ADDRESS, create+replace', () => {
    const t = recorder();
    new Rtnl(t).addAddress('addr replace', 4, parseCidr('fd00:10::1/64')!, true);
    const [m] = t.sent;
    assert.equal(m!.type, RTM.NEWADDR);
    assert.equal(m!.flags, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE);
    assert.deepEqual([...m!.payload.subarray(0, 4)], [10, 64, 0x02, 0]);
    assert.equal(view(m!.payload).getUint32(4, true), 4);
    const attrs = parseAttrs(m!.payload, 8);
    assert.deepEqual(attrs.get(1), attrs.get(2));
  });

  test('a link-local address gets link scope; an IPv4 one no flags and exclusive create', () => {
    const t = recorder();
    const rtnl = new Rtnl(t);
    rtnl.addAddress('ll', 2, parseCidr('fe80::1/64')!, true);
    rtnl.addAddress('v4', 2, parseCidr('10.0.0.7/24')!, false);
    assert.deepEqual([...t.sent[0]!.payload.subarray(0, 4)], [10, 64, 0x02, 253]);
    assert.deepEqual([...t.sent[1]!.payload.subarray(0, 4)], [2, 24, 0, 0]);
    assert.equal(t.sent[1]!.flags, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
  });

  test('a default route via a gateway: no RTA_DST, main table, proto boot, universe scope, unicast', () => {
    const t = recorder();
    new Rtnl(t).addRoute('route add', { dst: parseCidr('0.0.0.0/0')!, gateway: parseIp('10.0.0.1')!, oif: 9 });
    const [m] = t.sent;
    assert.deepEqual([...m!.payload.subarray(0, 8)], [2, 0, 0, 0, 254, 3, 0, 1]);
    const attrs = parseAttrs(m!.payload, 12);
    assert.equal(attrs.has(1), false);
    assert.deepEqual([...attrs.get(5)!], [10, 0, 0, 1]);
    assert.equal(view(attrs.get(4)!).getUint32(0, true), 9);
  });

  test('a route without a gateway is link-scoped and names its destination', () => {
    const t = recorder();
    new Rtnl(t).addRoute('route add', { dst: parseCidr('10.96.0.0/12')!, oif: 3 });
    assert.deepEqual([...t.sent[0]!.payload.subarray(0, 8)], [2, 12, 0, 0, 254, 3, 253, 1]);
    assert.deepEqual([...parseAttrs(t.sent[0]!.payload, 12).get(1)!], [10, 96, 0, 0]);
  });

  test('a veth: the peer (name, MTU, MAC, namespace fd) nested in IFLA_INFO_DATA behind its own ifinfomsg', () => {
    const t = recorder();
    new Rtnl(t).addVeth('veth', { name: 'bw1', mac: '02:00:00:00:00:01', mtu: 1400 }, { name: 'eth0', mac: '0a:58:0a:00:00:07', mtu: 1400 }, 42);
    const [m] = t.sent;
    assert.equal(m!.flags, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
    const info = parseAttrs(parseAttrs(m!.payload, 16).get(IFLA.LINKINFO)!);
    assert.deepEqual([...info.get(IFLA_INFO.KIND)!], [...Buffer.from('veth\0')]);
    const peer = parseAttrs(info.get(IFLA_INFO.DATA)!).get(1)!;
    const peerAttrs = parseAttrs(peer, 16);
    assert.deepEqual([...peerAttrs.get(IFLA.IFNAME)!], [...Buffer.from('eth0\0')]);
    assert.equal(view(peerAttrs.get(IFLA.NET_NS_FD)!).getUint32(0, true), 42);
    assert.equal(view(peerAttrs.get(IFLA.MTU)!).getUint32(0, true), 1400);
    assert.deepEqual([...peerAttrs.get(IFLA.ADDRESS)!], [0x0a, 0x58, 0x0a, 0, 0, 7]);
  });

  test('a macvlan: its master by IFLA_LINK, its mode in IFLA_INFO_DATA, born in the namespace of the fd', () => {
    const t = recorder();
    const rtnl = new Rtnl(t);
    rtnl.addMacvlan('macvlan', { name: 'eth0', masterIndex: 3, mode: 'vepa', mtu: 1500, mac: '0a:58:c0:a8:01:64' }, 42);
    rtnl.addMacvlan('shim', { name: 'bwshim1', masterIndex: 3, mode: 'passthru', mtu: 9000 });
    const [pod, shim] = t.sent;
    assert.equal(pod!.flags, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL);
    const attrs = parseAttrs(pod!.payload, 16);
    assert.equal(view(attrs.get(5)!).getUint32(0, true), 3, 'IFLA_LINK');
    assert.equal(view(attrs.get(IFLA.NET_NS_FD)!).getUint32(0, true), 42);
    assert.deepEqual([...attrs.get(IFLA.ADDRESS)!], [0x0a, 0x58, 0xc0, 0xa8, 1, 0x64]);
    const info = parseAttrs(attrs.get(IFLA.LINKINFO)!);
    assert.deepEqual([...info.get(IFLA_INFO.KIND)!], [...Buffer.from('macvlan\0')]);
    assert.equal(view(parseAttrs(info.get(IFLA_INFO.DATA)!).get(1)!).getUint32(0, true), 2, 'MACVLAN_MODE_VEPA');
    const shimAttrs = parseAttrs(shim!.payload, 16);
    assert.equal(shimAttrs.has(IFLA.NET_NS_FD), false, 'no fd: made in the node');
    assert.equal(shimAttrs.has(IFLA.ADDRESS), false, 'no MAC: the kernel\'s (passthru: the master\'s)');
    assert.equal(view(parseAttrs(parseAttrs(shimAttrs.get(IFLA.LINKINFO)!).get(IFLA_INFO.DATA)!).get(1)!).getUint32(0, true), 8, 'MACVLAN_MODE_PASSTHRU');
  });

  test('a shared route: replace instead of exclusive create, with the preferred source', () => {
    const t = recorder();
    new Rtnl(t).addRoute('route replace', { dst: parseCidr('192.168.1.128/26')!, oif: 7, replace: true, source: parseIp('192.168.1.10')! });
    assert.equal(t.sent[0]!.flags, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.REPLACE);
    assert.deepEqual([...parseAttrs(t.sent[0]!.payload, 12).get(7)!], [192, 168, 1, 10]);
  });

  test('attaching a port: master, alias and IFF_UP in one message, found by name', () => {
    const t = recorder();
    new Rtnl(t).setLink('attach', 'bw1', { master: 2, alias: 'bridgeway:n:c:eth0', up: true });
    const [m] = t.sent;
    assert.equal(m!.flags, NLM_F.REQUEST | NLM_F.ACK, 'no CREATE: never makes a link');
    assert.equal(view(m!.payload).getUint32(8, true), 1);
    assert.equal(view(m!.payload).getUint32(12, true), 1);
    const attrs = parseAttrs(m!.payload, 16);
    assert.equal(view(attrs.get(IFLA.MASTER)!).getUint32(0, true), 2);
    assert.deepEqual([...attrs.get(IFLA.IFALIAS)!], [...Buffer.from('bridgeway:n:c:eth0\0')]);
  });

  test('a port\'s hairpin mode, on or off: IFLA_BRPORT_MODE in the bridge\'s slave data, and nothing else changed', () => {
    for (const [hairpin, mode] of [[true, 1], [false, 0]] as const) {
      const t = recorder();
      new Rtnl(t).setLink('hairpin', 'bw1', { hairpin });
      const [m] = t.sent;
      assert.equal(view(m!.payload).getUint32(12, true), 0, 'no flag changed (the port stays up)');
      const attrs = parseAttrs(m!.payload, 16);
      assert.deepEqual([...attrs.keys()].sort(), [IFLA.IFNAME, IFLA.LINKINFO].sort());
      const info = parseAttrs(attrs.get(IFLA.LINKINFO)!);
      assert.deepEqual([...info.get(IFLA_INFO.SLAVE_KIND)!], [...Buffer.from('bridge\0')]);
      assert.deepEqual([...parseAttrs(info.get(IFLA_INFO.SLAVE_DATA)!).get(4)!], [mode]);
    }
  });
});

describe('decoding answers', () => {
  test('a link: flags, MAC, MTU, master, operstate, alias, kind and hairpin', () => {
    const header = ifinfomsg({ index: 5, flags: 0x1 | 0x2 | 0x1000 | 0x10000 });
    const message = encodeMessage(RTM.NEWLINK, 0, 1, header, [
      str(IFLA.IFNAME, 'bw1'),
      bytes(IFLA.ADDRESS, Uint8Array.of(2, 0, 0, 0, 0, 0xab)),
      u32(IFLA.MTU, 1400),
      u32(IFLA.MASTER, 2),
      u8(IFLA.OPERSTATE, 6),
      str(IFLA.IFALIAS, 'bridgeway:n:c:eth0'),
      nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'veth'), str(IFLA_INFO.SLAVE_KIND, 'bridge'), nest(IFLA_INFO.SLAVE_DATA, [u8(4, 1)])]),
    ]);
    assert.deepEqual(decodeLink(parseMessages(message)[0]!.payload), {
      index: 5,
      name: 'bw1',
      flags: ['UP', 'BROADCAST', 'MULTICAST', 'LOWER_UP'],
      mac: '02:00:00:00:00:ab',
      mtu: 1400,
      masterIndex: 2,
      operState: 'UP',
      alias: 'bridgeway:n:c:eth0',
      kind: 'veth',
      portKind: 'bridge',
      hairpin: true,
    });
  });

  test('a port with hairpin off reads as hairpin false, not as absent', () => {
    const message = encodeMessage(RTM.NEWLINK, 0, 1, ifinfomsg({ index: 5 }), [
      str(IFLA.IFNAME, 'bw1'),
      nest(IFLA.LINKINFO, [str(IFLA_INFO.KIND, 'veth'), str(IFLA_INFO.SLAVE_KIND, 'bridge'), nest(IFLA_INFO.SLAVE_DATA, [u8(4, 0)])]),
    ]);
    assert.equal(decodeLink(parseMessages(message)[0]!.payload).hairpin, false);
  });

  test('an error: the errno, and the extended-ack text after a capped echo', () => {
    const payload = new Uint8Array(4 + 16 + 8 + 28);
    view(payload).setInt32(0, -22, true);
    const text = encodeMessage(0, 0, 0, new Uint8Array(), [str(1, 'Nexthop has invalid gateway')]).subarray(16);
    payload.set(text, 20);
    const message: Message = { type: NLMSG_ERROR, flags: 0x100 | NLM_F.ACK_TLVS, seq: 1, payload };
    assert.deepEqual(decodeError(message), { errno: 22, text: 'Nexthop has invalid gateway' });
    assert.deepEqual(decodeError({ ...message, flags: 0 }), { errno: 22 });
  });

  test('a truncated datagram is an error, not a silent partial read', () => {
    const message = encodeMessage(RTM.NEWLINK, 0, 1, ifinfomsg());
    assert.throws(() => parseMessages(message.subarray(0, 20)), /malformed message length/);
  });
});

describe('decodeRoute', () => {
  /** An RTM_NEWROUTE payload as the kernel dumps it: rtmsg, then the attributes. */
  const payload = (header: Uint8Array, attrs: Parameters<typeof encodeMessage>[4]) => parseMessages(encodeMessage(RTM.NEWROUTE, 0, 1, header, attrs))[0]!.payload;

  test('reads family, prefix, table (RTA_TABLE over the header byte), protocol, scope, type, dst, gateway, oif and metric, past attributes it does not know', () => {
    const route = decodeRoute(payload(rtmsg({ family: 2, dstLength: 24, table: 252, protocol: 77, scope: 0, type: 1 }), [
      u32(6 /* RTA_PRIORITY */, 100),
      bytes(RTA.DST, new Uint8Array([10, 244, 7, 0])),
      u32(RTA.TABLE, 1000),
      bytes(RTA.GATEWAY, new Uint8Array([192, 168, 0, 9])),
      u32(RTA.OIF, 4),
      u8(21 /* RTA_PREF */, 0),
    ]));
    assert.deepEqual({ ...route, dst: [...route.dst!], gateway: [...route.gateway!] }, {
      family: 2, dstLength: 24, table: 1000, protocol: 77, scope: 0, type: 1, dst: [10, 244, 7, 0], gateway: [192, 168, 0, 9], oif: 4, priority: 100,
    });
  });

  test('a default route has no dst; without RTA_TABLE the header says the table', () => {
    const route = decodeRoute(payload(rtmsg({ family: 10, dstLength: 0, table: 254, protocol: 3, scope: 0, type: 1 }), [u32(RTA.OIF, 2)]));
    assert.deepEqual(route, { family: 10, dstLength: 0, table: 254, protocol: 3, scope: 0, type: 1, oif: 2 });
  });
});
