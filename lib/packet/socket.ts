// Sends link-layer frames out of one interface of a namespace: an AF_PACKET socket made inside the
// namespace (a socket belongs to the namespace it is created in, as netlink's do), through libc
// from lib/netlink/socket.ts (the one module that loads bun:ffi). SOCK_DGRAM: the kernel writes
// the Ethernet header from the destination and ethertype given per frame, and the interface's
// own MAC as the source. Protocol 0: the socket receives nothing, so nothing queues on it.
import type { Libc } from '../netlink/socket.ts';
import { runInNetns } from '../netlink/socket.ts';
import type { Frame } from './announce.ts';

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

/** struct sockaddr_ll (20 bytes): where one frame goes. */
function sockaddrLl(ifindex: number, frame: Frame): Uint8Array {
  const out = new Uint8Array(20);
  const view = new DataView(out.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setUint16(2, frame.ethertype, false); // network order
  view.setInt32(4, ifindex, true);
  out[11] = frame.destination.length;
  out.set(frame.destination, 12);
  return out;
}

export class PacketSocketError extends Error {
  override name = 'PacketSocketError';
}

/** Sends the frames out of the interface at `ifindex` in the namespace at `netnsPath`, in order. */
export function sendFrames(c: Libc, netnsPath: string, ifindex: number, frames: readonly Frame[]): void {
  if (frames.length === 0) return;
  const fd = runInNetns(c, netnsPath, () => c.socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd < 0) throw new PacketSocketError(`socket(AF_PACKET) in ${netnsPath}: ${c.strerror(c.errno())}`);
  try {
    for (const frame of frames) {
      const address = sockaddrLl(ifindex, frame);
      const sent = c.sendto(fd, c.ptr(frame.payload), frame.payload.length, 0, c.ptr(address), address.length);
      if (sent !== frame.payload.length) throw new PacketSocketError(`send ${frame.what} on interface ${ifindex}: ${c.strerror(c.errno())}`);
    }
  } finally {
    c.close(fd);
  }
}
