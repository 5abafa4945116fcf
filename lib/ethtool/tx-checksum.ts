// Turns an interface's TX checksum offload on or off, in-process: the SIOCETHTOOL ioctl with the
// legacy ETHTOOL_STXCSUM command (include/uapi/linux/ethtool.h), on a datagram socket made inside
// the interface's namespace (an ioctl acts on the namespace its socket was created in), through
// lib/netlink/socket.ts's libc. `ethtool -K <if> tx off` sends the same change over ethtool
// netlink; the ioctl needs no generic-netlink family lookup, and the kernel maps it onto the same
// feature bits (NETIF_F_CSUM_MASK), with the same result read back by `ethtool -k`.
//
// Why (issue 21): OVS's userspace datapath (datapath_type=netdev) reads a pod's frames from its
// host veth with a packet socket and hands them to the other pod's veth as they are. A pod whose
// veth offloads TX checksums sends TCP with the checksum left for a NIC to fill in
// (CHECKSUM_PARTIAL); over the userspace datapath nothing fills it in, and the receiver drops
// every segment: ping works, TCP never connects. Measured here: turning TX checksum offload off
// on the pod's end of the veth is what makes TCP work; the host end's setting does not matter.
import { runInNetns, type Libc } from '../netlink/socket.ts';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCETHTOOL = 0x8946;
const ETHTOOL_GTXCSUM = 0x16;
const ETHTOOL_STXCSUM = 0x17;
const IFNAMSIZ = 16;

export class EthtoolError extends Error {
  override name = 'EthtoolError';
}

/** struct ethtool_value { u32 cmd; u32 data; } */
export function ethtoolValue(cmd: number, data: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, cmd, true);
  view.setUint32(4, data, true);
  return out;
}

/** struct ifreq (40 bytes): the interface's name, then ifr_data, a pointer to the command. */
export function ifreq(ifname: string, dataPointer: bigint): Uint8Array {
  const name = new TextEncoder().encode(ifname);
  if (name.length >= IFNAMSIZ) throw new EthtoolError(`interface name ${JSON.stringify(ifname)} is too long`);
  const out = new Uint8Array(40);
  out.set(name, 0);
  new DataView(out.buffer).setBigUint64(IFNAMSIZ, dataPointer, true);
  return out;
}

function ioctl(c: Libc, fd: number, ifname: string, value: Uint8Array, what: string): void {
  const request = ifreq(ifname, BigInt(c.ptr(value) as number));
  if (c.ioctl(fd, SIOCETHTOOL, c.ptr(request)) !== 0) throw new EthtoolError(`${what} on ${ifname}: ${c.strerror(c.errno())}`);
}

function withSocket<T>(c: Libc, netnsPath: string, action: (fd: number) => T): T {
  const fd = runInNetns(c, netnsPath, () => c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd < 0) throw new EthtoolError(`socket(AF_INET) in ${netnsPath}: ${c.strerror(c.errno())}`);
  try {
    return action(fd);
  } finally {
    c.close(fd);
  }
}

/** Sets TX checksum offload of `ifname` in the namespace at `netnsPath`. */
export function setTxChecksum(c: Libc, netnsPath: string, ifname: string, on: boolean): void {
  withSocket(c, netnsPath, (fd) => ioctl(c, fd, ifname, ethtoolValue(ETHTOOL_STXCSUM, on ? 1 : 0), 'ETHTOOL_STXCSUM'));
}

/** Whether TX checksum offload of `ifname` is on (CHECK reads it back). */
export function txChecksum(c: Libc, netnsPath: string, ifname: string): boolean {
  return withSocket(c, netnsPath, (fd) => {
    const value = ethtoolValue(ETHTOOL_GTXCSUM, 0);
    ioctl(c, fd, ifname, value, 'ETHTOOL_GTXCSUM');
    return new DataView(value.buffer).getUint32(4, true) !== 0;
  });
}
