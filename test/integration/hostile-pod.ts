// A hostile pod's tools, shared by the Linux bridge's attack tests (attacks.test.ts) and Open
// vSwitch's (ovs-antispoof.test.ts): scapy inside the attacker's namespace crafts the frames, and a
// scapy capture in a victim's namespace reports what arrived, ending on marker payloads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { SYSTEM_PATH } from '../../lib/exec.ts';
import type { TestNode } from './harness.ts';

export const scapyAvailable = async (node: TestNode) => node.exec(['python3', '-c', 'import scapy.all'], node.path).then(() => true, () => false);
/**
 * The attacker's frames, sent in the order given, each named by a kind and its arguments (see
 * `attack`), all from the attacker's own MAC unless the kind says otherwise:
 * - `ra <source ll>`: a router advertisement to ff02::1 with a default route and a prefix;
 * - `redirect6 <victim> <victim mac> <gateway ll> <target> <dst>` and
 *   `redirect4 <victim> <victim mac> <gateway> <new gateway> <dst>`: redirects with the gateway as
 *   source. The IPv4 one quotes an echo reply: with no socket to deliver it to, the kernel acts
 *   on a redirect only through ICMP's own error handler, which takes it for a quoted echo reply
 *   (icmp_err in net/ipv4/icmp.c); a quoted UDP or TCP packet needs a matching socket;
 * - `udp <dst mac> <src ip> <dst ip> <payload>`: a UDP datagram to the discard port from any
 *   source address, either family (the spoofed packets and the capture markers);
 * - `as-mac <src mac> <dst mac> <src ip> <dst ip> <payload>`: the same with another source MAC;
 * - `garp <ip>`: a gratuitous ARP reply claiming <ip> (sender = target = <ip>, and target MAC =
 *   sender MAC, which makes the kernel override a fresh entry too: arp_process, net/ipv4/arp.c);
 * - `arp-reply <claimed ip> <victim ip> <victim mac>`: an ARP reply to one victim;
 * - `na <src ip> <target>`: an unsolicited neighbour advertisement to ff02::1, override flag set;
 * - `na-to <src ip> <target> <dst ip> <dst mac> <solicited 0|1>`: the same sent to one neighbour's
 *   MAC and address; solicited (S=1) it is taken as the answer to a solicitation and makes the
 *   entry REACHABLE at once (ndisc_recv_na, net/ipv6/ndisc.c), which no multicast NA may do;
 * - `dhcp4-offer <dst mac> <src ip> <dst ip> <client mac>`: a DHCPv4 offer, UDP 67 -> 68;
 * - `dhcp6-advertise <dst mac> <src ip> <dst ip>`: a DHCPv6 advertise, UDP 547 -> 546;
 * - `pause <seconds>`.
 */
export const SCAPY = String.raw`
import sys, time
from scapy.all import (conf, sendp, get_if_hwaddr, mac2str, Ether, ARP, IP, UDP, ICMP, IPv6, Raw, BOOTP, DHCP, DHCP6_Advertise,
                       ICMPv6ND_RA, ICMPv6ND_NA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, ICMPv6ND_Redirect)
conf.verb = 0
mac = get_if_hwaddr('eth0')

def ip(src, dst):
    return IPv6(src=src, dst=dst) if ':' in src else IP(src=src, dst=dst)

def ra(ll):
    return (Ether(src=mac, dst='33:33:00:00:00:01') / IPv6(src=ll, dst='ff02::1', hlim=255)
            / ICMPv6ND_RA(routerlifetime=1800) / ICMPv6NDOptSrcLLAddr(lladdr=mac)
            / ICMPv6NDOptPrefixInfo(prefix='2001:db8:bad::', prefixlen=64, L=1, A=1, validlifetime=86400, preferredlifetime=14400))

def redirect6(victim, victim_mac, gateway, target, dst):
    return (Ether(src=mac, dst=victim_mac) / IPv6(src=gateway, dst=victim, hlim=255)
            / ICMPv6ND_Redirect(tgt=target, dst=dst) / ICMPv6NDOptDstLLAddr(lladdr=mac))

def redirect4(victim, victim_mac, gateway, new_gateway, dst):
    return (Ether(src=mac, dst=victim_mac) / IP(src=gateway, dst=victim)
            / ICMP(type=5, code=1, gw=new_gateway) / IP(src=victim, dst=dst, ttl=63) / ICMP(type=0, id=1, seq=1))

def udp(dst_mac, src, dst, payload):
    return as_mac(mac, dst_mac, src, dst, payload)

def as_mac(src_mac, dst_mac, src, dst, payload):
    return Ether(src=src_mac, dst=dst_mac) / ip(src, dst) / UDP(sport=40009, dport=9) / Raw(payload.encode())

def garp(claimed):
    return Ether(src=mac, dst='ff:ff:ff:ff:ff:ff') / ARP(op=2, hwsrc=mac, psrc=claimed, hwdst=mac, pdst=claimed)

def arp_reply(claimed, victim, victim_mac):
    return Ether(src=mac, dst=victim_mac) / ARP(op=2, hwsrc=mac, psrc=claimed, hwdst=victim_mac, pdst=victim)

def na(src, target):
    return (Ether(src=mac, dst='33:33:00:00:00:01') / IPv6(src=src, dst='ff02::1', hlim=255)
            / ICMPv6ND_NA(tgt=target, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac))

def na_to(src, target, dst, dst_mac, solicited):
    return (Ether(src=mac, dst=dst_mac) / IPv6(src=src, dst=dst, hlim=255)
            / ICMPv6ND_NA(tgt=target, R=0, S=int(solicited), O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac))

def dhcp4_offer(dst_mac, src, dst, client_mac):
    return (Ether(src=mac, dst=dst_mac) / IP(src=src, dst=dst) / UDP(sport=67, dport=68)
            / BOOTP(op=2, xid=1, yiaddr='10.66.0.50', siaddr=src, chaddr=mac2str(client_mac))
            / DHCP(options=[('message-type', 'offer'), ('server_id', src), ('router', src), ('lease_time', 86400), 'end']))

def dhcp6_advertise(dst_mac, src, dst):
    return Ether(src=mac, dst=dst_mac) / IPv6(src=src, dst=dst) / UDP(sport=547, dport=546) / DHCP6_Advertise(trid=1)

def pause(seconds):
    return float(seconds)

KINDS = {'ra': ra, 'redirect6': redirect6, 'redirect4': redirect4, 'udp': udp, 'as-mac': as_mac, 'garp': garp, 'arp-reply': arp_reply,
         'na': na, 'na-to': na_to, 'dhcp4-offer': dhcp4_offer, 'dhcp6-advertise': dhcp6_advertise, 'pause': pause}
frames, args = [], sys.argv[1:]
while args:
    kind = args.pop(0)
    if kind not in KINDS:
        sys.exit('unknown attack ' + kind)
    build = KINDS[kind]
    arity = build.__code__.co_argcount
    if len(args) < arity:
        sys.exit(kind + ' needs ' + str(arity) + ' arguments')
    frames.append(build(*args[:arity]))
    del args[:arity]
for frame in frames:
    if isinstance(frame, float):
        time.sleep(frame)
    else:
        sendp(frame, iface='eth0')
`;

/** Frames for SCAPY, each `[kind, ...arguments]`, sent in this order in one run (one scapy start-up). */
export async function attack(node: TestNode, attacker: string, ...frames: string[][]): Promise<void> {
  await node.exec(['python3', '-c', SCAPY, ...frames.flat()], attacker);
}

/**
 * The frames twice, 300 ms apart: an IPv4 redirect takes effect only once the victim has the new
 * gateway's MAC (the first one makes it ask), and a neighbour entry may be in its locktime.
 */
export function twice(...frames: string[][]): string[][] {
  return [...frames, ['pause', '0.3'], ...frames, ['pause', '0.3']];
}

/**
 * A capture on eth0 of a namespace: every frame that arrives (not the ones it sends), summed up as
 * JSON, until each marker (a UDP payload) has arrived, or 5 s, a safety net only. Markers are sent
 * last, from the attacker's own addresses, which no filter drops: once they are in, everything
 * sent before them on the same path has been delivered or dropped, so the capture ends without
 * waiting on a timeout and without missing a late frame. `ready` is printed once the socket is open.
 */
export const SNIFF = String.raw`
import sys, json
from scapy.all import conf, sniff, get_if_hwaddr, Ether, ARP, IP, UDP, ICMP, IPv6, Raw
conf.verb = 0
iface, markers = sys.argv[1], set(sys.argv[2:])
own = get_if_hwaddr(iface)
frames = []
def record(p):
    if Ether not in p or p[Ether].src == own:
        return False
    f = {'smac': p[Ether].src, 'dmac': p[Ether].dst}
    if ARP in p:
        f.update(kind='arp', op=int(p[ARP].op), hwsrc=p[ARP].hwsrc, psrc=p[ARP].psrc)
    elif IP in p:
        f.update(kind='ip', src=p[IP].src, dst=p[IP].dst)
    elif IPv6 in p:
        f.update(kind='ip6', src=p[IPv6].src, dst=p[IPv6].dst)
        icmp6 = p[IPv6].payload
        while icmp6 and icmp6.name.startswith('IPv6 Extension'):
            icmp6 = icmp6.payload
        if hasattr(icmp6, 'type') and icmp6.name.startswith(('ICMPv6', 'MLD')):
            f['icmp6'] = int(icmp6.type)
            if hasattr(icmp6, 'tgt'):
                f['tgt'] = icmp6.tgt
    else:
        f['kind'] = 'type 0x%04x' % p[Ether].type
    if UDP in p:
        f.update(sport=int(p[UDP].sport), dport=int(p[UDP].dport))
    if ICMP in p:
        f['icmp'] = int(p[ICMP].type)
    if UDP in p and Raw in p[UDP]:
        f['payload'] = p[UDP][Raw].load.decode('latin-1')[:80]
    frames.append(f)
    markers.discard(f.get('payload'))
    return not markers
sniff(iface=iface, store=False, timeout=5, stop_filter=record, started_callback=lambda: print('ready', flush=True))
print(json.dumps({'frames': frames, 'missing': sorted(markers)}), flush=True)
`;

/** One frame a capture saw; only what applies to it is set. */
export interface Frame {
  smac: string;
  dmac: string;
  kind: string;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  icmp?: number;
  icmp6?: number;
  /** A neighbour solicitation's or advertisement's target. */
  tgt?: string;
  op?: number;
  hwsrc?: string;
  psrc?: string;
  payload?: string;
}

/** A fresh marker payload: a capture stops once it has seen all of its markers. */
export function marker(what: string): string {
  return `marker ${what} ${randomUUID().slice(0, 8)}`;
}

/**
 * Starts a capture in `netns` and resolves once it is listening; `frames()` waits for the markers
 * and yields every frame that arrived. A marker that never came fails the test: the capture
 * would prove nothing.
 */
export async function capture(node: TestNode, netns: string, markers: string[]): Promise<{ frames: () => Promise<Frame[]> }> {
  const child = spawn('/usr/bin/nsenter', [`--net=${netns}`, '--', 'python3', '-c', SNIFF, 'eth0', ...markers], {
    env: { PATH: SYSTEM_PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  node.lab.track(child);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.startsWith('ready\n')) resolve();
    });
    void exited.then((code) => reject(new Error(`capture in ${netns} ended before it was ready (${code}): ${stderr}`)));
  });
  await ready;
  return {
    async frames() {
      const code = await exited;
      if (code !== 0) throw new Error(`capture in ${netns} failed (${code}): ${stderr}`);
      const { frames, missing } = JSON.parse(stdout.slice('ready\n'.length)) as { frames: Frame[]; missing: string[] };
      assert.deepEqual(missing, [], `the markers reached the capture in ${netns}: without them it proves nothing`);
      return frames;
    },
  };
}

/** Frames whose UDP payload starts with `tag`: what a test sent, as the capture saw it arrive. */
export function tagged(frames: Frame[], tag: string): string[] {
  return frames.filter((f) => f.payload?.startsWith(tag)).map((f) => `${f.payload} (${f.src} -> ${f.dst}, from ${f.smac})`);
}

