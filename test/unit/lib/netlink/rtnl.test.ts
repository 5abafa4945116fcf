// lib/netlink/rtnl.ts: the messages the uplink move (issue 20) sends, byte by byte as the kernel
// reads them (include/uapi/linux/{rtnetlink,if_addr,if_link}.h), and each decoded back with the
// same decoders that read the kernel's dumps (rtnl-codec.ts). Pure: the socket is a recorder.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../../../lib/cidr.ts';
import { NLM_F, parseAttrs, parseMessages, type Message } from '../../../../lib/netlink/codec.ts';
import { addressFlagNames, decodeAddress, decodeRoute, IFA, IFLA, IFLA_INFO, RTA, RTM } from '../../../../lib/netlink/rtnl-codec.ts';
import { Rtnl } from '../../../../lib/netlink/rtnl.ts';
import type { Transport } from '../../../../lib/netlink/transport.ts';

function recorder(): Transport & { sent: Message[] } {
  let seq = 0;
  const sent: Message[] = [];
  return { sent, nextSeq: () => ++seq, request: (_what, message) => (sent.push(...parseMessages(message)), []) };
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u32At = (b: Uint8Array, at = 0) => view(b).getUint32(at, true);
const REQUEST_ACK = NLM_F.REQUEST | NLM_F.ACK;

/** One message sent by `send`. */
function one(send: (rtnl: Rtnl) => void): Message {
  const t = recorder();
  send(new Rtnl(t));
  assert.equal(t.sent.length, 1);
  return t.sent[0]!;
}

describe('links', () => {
  test('the uplink bridge: kind bridge with IFLA_BR_STP_STATE 0 and IFLA_BR_FORWARD_DELAY 0 in IFLA_INFO_DATA, exclusive create', () => {
    const m = one((r) => r.addBridge('add', 'br-lan', '52:54:00:12:34:56', 9000, { stpOff: true }));
    assert.equal(m.type, RTM.NEWLINK);
    assert.equal(m.flags, REQUEST_ACK | NLM_F.CREATE | NLM_F.EXCL);
    const attrs = parseAttrs(m.payload, 16);
    assert.equal(u32At(attrs.get(IFLA.MTU)!), 9000);
    assert.deepEqual([...attrs.get(IFLA.ADDRESS)!], [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    const info = parseAttrs(attrs.get(IFLA.LINKINFO)!);
    assert.deepEqual([...info.get(IFLA_INFO.KIND)!], [...Buffer.from('bridge\0')]);
    const data = parseAttrs(info.get(IFLA_INFO.DATA)!);
    assert.deepEqual([...data.keys()].sort(), [1, 5], 'IFLA_BR_FORWARD_DELAY (1) and IFLA_BR_STP_STATE (5), nothing else');
    assert.equal(u32At(data.get(1)!), 0);
    assert.equal(u32At(data.get(5)!), 0);
    const plain = parseAttrs(parseAttrs(one((r) => r.addBridge('add', 'cni0', '0a:58:0a:00:00:01', 1500)).payload, 16).get(IFLA.LINKINFO)!);
    assert.equal(plain.has(IFLA_INFO.DATA), false, 'the pods\' bridge keeps the kernel\'s defaults');
  });

  test('down: IFF_UP in the change mask with the flag clear; up: both set', () => {
    const down = one((r) => r.setLink('down', 'eth1', { up: false }));
    assert.equal(u32At(down.payload, 8), 0, 'ifi_flags');
    assert.equal(u32At(down.payload, 12), 1, 'ifi_change: IFF_UP');
    const up = one((r) => r.setLink('up', 'eth1', { up: true }));
    assert.deepEqual([u32At(up.payload, 8), u32At(up.payload, 12)], [1, 1]);
    const untouched = one((r) => r.setLink('mac', 'eth1', { mac: '02:00:00:00:00:01' }));
    assert.deepEqual([u32At(untouched.payload, 8), u32At(untouched.payload, 12)], [0, 0], 'no up or down: the state is left alone');
  });

  test('an alias NUL-terminated; the empty alias as a zero-length IFLA_IFALIAS (what `alias ""` sends: the kernel clears it)', () => {
    const set = parseAttrs(one((r) => r.setLink('alias', 'br-lan', { alias: 'bridgeway-uplink:eth1' })).payload, 16);
    assert.deepEqual([...set.get(IFLA.IFALIAS)!], [...Buffer.from('bridgeway-uplink:eth1\0')]);
    const cleared = parseAttrs(one((r) => r.setLink('alias', 'br-lan', { alias: '' })).payload, 16);
    assert.equal(cleared.get(IFLA.IFALIAS)?.length, 0);
  });

  test('nomaster: IFLA_MASTER 0; a master by its index', () => {
    assert.equal(u32At(parseAttrs(one((r) => r.setLink('nomaster', 'eth1', { master: 0 })).payload, 16).get(IFLA.MASTER)!), 0);
    assert.equal(u32At(parseAttrs(one((r) => r.setLink('master', 'eth1', { master: 7 })).payload, 16).get(IFLA.MASTER)!), 7);
  });
});

describe('addresses', () => {
  test('a DHCP lease: broadcast, scope, lifetimes in IFA_CACHEINFO (preferred, then valid); decoded back the same', () => {
    const m = one((r) => r.addAddress('add', 4, parseCidr('192.168.77.10/24')!, false, { broadcast: parseIp('192.168.77.255')!, scope: 0, lifetime: { valid: 3600, preferred: 1800 } }));
    assert.equal(m.type, RTM.NEWADDR);
    assert.equal(m.flags, REQUEST_ACK | NLM_F.CREATE | NLM_F.EXCL);
    assert.deepEqual([...m.payload.subarray(0, 8)], [2, 24, 0, 0, 4, 0, 0, 0], 'ifaddrmsg: AF_INET, /24, no flags, universe, ifindex 4');
    const attrs = parseAttrs(m.payload, 8);
    assert.deepEqual([...attrs.get(IFA.BROADCAST)!], [192, 168, 77, 255]);
    const cacheinfo = attrs.get(IFA.CACHEINFO)!;
    assert.equal(cacheinfo.length, 16, 'struct ifa_cacheinfo');
    assert.deepEqual([u32At(cacheinfo, 0), u32At(cacheinfo, 4), u32At(cacheinfo, 8), u32At(cacheinfo, 12)], [1800, 3600, 0, 0]);
    assert.equal(attrs.has(IFA.FLAGS), false, 'flags that fit the header byte go there');
    const back = decodeAddress(m.payload);
    assert.deepEqual({ ...back, address: [...back.address], broadcast: [...back.broadcast!] }, {
      family: 2, prefixLength: 24, scope: 0, index: 4, address: [192, 168, 77, 10], flags: 0, broadcast: [192, 168, 77, 255], preferredLft: 1800, validLft: 3600,
    });
  });

  test('noprefixroute does not fit the header byte: all flags in IFA_FLAGS (IPv6: with nodad), the header\'s zero; host scope in the header', () => {
    const v6 = one((r) => r.addAddress('add', 4, parseCidr('fd77::10/64')!, false, { noprefixroute: true }));
    assert.equal(v6.payload[2], 0);
    assert.equal(u32At(parseAttrs(v6.payload, 8).get(IFA.FLAGS)!), 0x202, 'IFA_F_NOPREFIXROUTE | IFA_F_NODAD');
    assert.equal(decodeAddress(v6.payload).flags, 0x202, 'IFA_FLAGS read over the header byte');
    const v4 = one((r) => r.addAddress('add', 4, parseCidr('10.1.0.1/32')!, false, { scope: 254, noprefixroute: true }));
    assert.equal(v4.payload[3], 254);
    assert.equal(u32At(parseAttrs(v4.payload, 8).get(IFA.FLAGS)!), 0x200);
    const plain = one((r) => r.addAddress('add', 4, parseCidr('fd77::11/64')!, false));
    assert.equal(plain.payload[2], 0x02, 'nodad alone stays in the header');
    assert.equal(parseAttrs(plain.payload, 8).has(IFA.FLAGS), false);
  });

  test('delete: RTM_DELADDR by family, prefix length, index and local address, no create flags', () => {
    const m = one((r) => r.deleteAddress('del', 3, parseCidr('fd77::10/64')!));
    assert.equal(m.type, RTM.DELADDR);
    assert.equal(m.flags, REQUEST_ACK);
    assert.deepEqual([...m.payload.subarray(0, 8)], [10, 64, 0, 0, 3, 0, 0, 0]);
    const attrs = parseAttrs(m.payload, 8);
    assert.deepEqual([...attrs.get(IFA.LOCAL)!], [0xfd, 0x77, ...Array(13).fill(0), 0x10]);
    assert.deepEqual(attrs.get(IFA.ADDRESS), attrs.get(IFA.LOCAL));
  });

  test('flag names as iproute2 prints them: 0x01 is secondary for IPv4, temporary for IPv6; permanent, noprefixroute', () => {
    assert.deepEqual(addressFlagNames(2, 0x81), ['secondary', 'permanent']);
    assert.deepEqual(addressFlagNames(10, 0x283), ['temporary', 'nodad', 'permanent', 'noprefixroute']);
    assert.deepEqual(addressFlagNames(2, 0), []);
  });
});

describe('routes', () => {
  test('append: NLM_F_CREATE|NLM_F_APPEND without EXCL, with protocol, scope, onlink in rtm_flags, RTA_PRIORITY and RTA_PREFSRC; decoded back', () => {
    const m = one((r) => r.addRoute('append', {
      dst: parseCidr('10.88.0.0/16')!, gateway: parseIp('192.168.77.1')!, oif: 9, append: true, protocol: 4, scope: 0, metric: 50, source: parseIp('192.168.77.10')!, onlink: true,
    }));
    assert.equal(m.type, RTM.NEWROUTE);
    assert.equal(m.flags, REQUEST_ACK | NLM_F.CREATE | NLM_F.APPEND);
    assert.deepEqual([...m.payload.subarray(0, 12)], [2, 16, 0, 0, 254, 4, 0, 1, 4, 0, 0, 0], 'rtmsg: main table, proto static, universe, unicast, RTNH_F_ONLINK');
    const back = decodeRoute(m.payload);
    assert.deepEqual({ ...back, dst: [...back.dst!], gateway: [...back.gateway!], prefsrc: [...back.prefsrc!] }, {
      family: 2, dstLength: 16, table: 254, protocol: 4, scope: 0, type: 1, flags: 4, dst: [10, 88, 0, 0], gateway: [192, 168, 77, 1], prefsrc: [192, 168, 77, 10], priority: 50, oif: 9,
    });
  });

  test('a link-scoped route keeps its scope and an unnamed protocol; without details: boot, and link scope without a gateway', () => {
    const scoped = one((r) => r.addRoute('append', { dst: parseCidr('10.99.0.0/24')!, oif: 9, append: true, protocol: 99, scope: 253 }));
    assert.deepEqual([scoped.payload[5], scoped.payload[6]], [99, 253]);
    const plain = one((r) => r.addRoute('add', { dst: parseCidr('10.99.0.0/24')!, oif: 9 }));
    assert.equal(plain.flags, REQUEST_ACK | NLM_F.CREATE | NLM_F.EXCL);
    assert.deepEqual([plain.payload[5], plain.payload[6], u32At(plain.payload, 8)], [3, 253, 0]);
    assert.equal(parseAttrs(plain.payload, 12).has(RTA.PRIORITY), false);
  });

  test('delete: RTM_DELROUTE, scope nowhere, no type; protocol and metric only when given, so the kernel matches on the rest', () => {
    const m = one((r) => r.deleteRoute('del', { dst: parseCidr('::/0')!, gateway: parseIp('fd77::1')!, oif: 3, metric: 1024 }));
    assert.equal(m.type, RTM.DELROUTE);
    assert.equal(m.flags, REQUEST_ACK);
    assert.deepEqual([...m.payload.subarray(0, 12)], [10, 0, 0, 0, 254, 0, 255, 0, 0, 0, 0, 0]);
    const attrs = parseAttrs(m.payload, 12);
    assert.equal(attrs.has(RTA.DST), false, 'a default route has no RTA_DST');
    assert.equal(u32At(attrs.get(RTA.PRIORITY)!), 1024);
    assert.equal(u32At(attrs.get(RTA.OIF)!), 3);
    const byProtocol = one((r) => r.deleteRoute('del', { dst: parseCidr('192.168.77.0/24')!, oif: 3, protocol: 2 }));
    assert.equal(byProtocol.payload[5], 2, 'proto kernel: the bridge\'s prefix route handed over');
    assert.equal(parseAttrs(byProtocol.payload, 12).has(RTA.PRIORITY), false);
  });
});
