// A netlink socket from libc through Bun's FFI: the one place the plugin leaves `node:` APIs,
// because Node offers neither AF_NETLINK nor setns(2). Reached through
// process.getBuiltinModule, so nothing imports a `bun:` module and the rest of the code (and its
// unit tests) stays on Node; loadLibc() says whether this runtime has it.
//
// A socket belongs to the network namespace it was created in, for good: to work in a pod's
// namespace the calling thread enters it with setns(2) only to create the socket, and goes
// straight back (runInNetns, which also opens a pod's /proc/sys/net files). Nothing else runs on
// the thread meanwhile (every call here is synchronous).
import fs from 'node:fs';
import { decodeError, NLM_F, NLMSG_DONE, NLMSG_ERROR, parseMessages, type Message } from './codec.ts';
import { NetlinkError } from './errors.ts';
import type { Ack, BatchTransport, Transport } from './transport.ts';

/** The protocol of rtnetlink sockets (links, addresses, routes). */
export const NETLINK_ROUTE = 0;
/** The protocol of nfnetlink sockets (nf_tables), include/uapi/linux/netlink.h. */
export const NETLINK_NETFILTER = 12;

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10; // errors echo only the request's header, not the whole request
const NETLINK_EXT_ACK = 11; // errors carry the kernel's text ("Nexthop has invalid gateway")
const CLONE_NEWNET = 0x40000000;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const RECEIVE_BUFFER = 64 * 1024;

/** The slice of bun:ffi we use. */
interface BunFfi {
  dlopen(library: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...args: unknown[]) => number | bigint> };
  ptr(buffer: Uint8Array): unknown;
  CString: new (pointer: unknown) => { toString(): string };
  read: { i32(pointer: unknown, offset: number): number };
}

/** The libc calls a netlink socket needs. */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: unknown, length: number): number;
  send(fd: number, buffer: unknown, length: number, flags: number): number;
  recv(fd: number, buffer: unknown, length: number, flags: number): number;
  /** For the packet socket of lib/packet/socket.ts (a frame to one link-layer address). */
  sendto(fd: number, buffer: unknown, length: number, flags: number, address: unknown, addressLength: number): number;
  close(fd: number): number;
  /** For SIOCETHTOOL (lib/netlink/ethtool.ts): the request's argument is a pointer. */
  ioctl(fd: number, request: number, argument: unknown): number;
  setns(fd: number, nstype: number): number;
  errno(): number;
  strerror(errno: number): string;
  ptr(buffer: Uint8Array): unknown;
}

function loadFfi(): BunFfi | undefined {
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return process.versions.bun ? (getBuiltin?.call(process, 'bun:ffi') as BunFfi | undefined) : undefined;
}

/** libc through Bun's FFI; undefined where the runtime has no FFI (Node). Load it once per process. */
export function loadLibc(): Libc | undefined {
  const ffi = loadFfi();
  if (!ffi) return undefined;
  const i32 = 'i32';
  const { symbols } = ffi.dlopen('libc.so.6', {
    socket: { args: [i32, i32, i32], returns: i32 },
    setsockopt: { args: [i32, i32, i32, 'ptr', 'u32'], returns: i32 },
    send: { args: [i32, 'ptr', 'u64', i32], returns: 'i64' },
    recv: { args: [i32, 'ptr', 'u64', i32], returns: 'i64' },
    sendto: { args: [i32, 'ptr', 'u64', i32, 'ptr', 'u32'], returns: 'i64' },
    close: { args: [i32], returns: i32 },
    ioctl: { args: [i32, 'u64', 'ptr'], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    __errno_location: { args: [], returns: 'ptr' },
    strerror: { args: [i32], returns: 'ptr' },
  });
  return {
    socket: (d, t, p) => Number(symbols.socket!(d, t, p)),
    setsockopt: (fd, level, name, value, length) => Number(symbols.setsockopt!(fd, level, name, value, length)),
    send: (fd, buffer, length, flags) => Number(symbols.send!(fd, buffer, length, flags)),
    recv: (fd, buffer, length, flags) => Number(symbols.recv!(fd, buffer, length, flags)),
    sendto: (fd, buffer, length, flags, address, addressLength) => Number(symbols.sendto!(fd, buffer, length, flags, address, addressLength)),
    close: (fd) => Number(symbols.close!(fd)),
    ioctl: (fd, request, argument) => Number(symbols.ioctl!(fd, request, argument)),
    setns: (fd, nstype) => Number(symbols.setns!(fd, nstype)),
    // errno is thread-local: read through the pointer libc gives this thread, right after the call.
    errno: () => ffi.read.i32(symbols.__errno_location!(), 0),
    strerror: (errno) => new ffi.CString(symbols.strerror!(errno)).toString(),
    ptr: (buffer) => ffi.ptr(buffer),
  };
}

/** The error of the syscall that just failed on this thread, or of the kernel's answer. */
function failure(c: Libc, what: string, errno = c.errno(), extAck?: string): NetlinkError {
  return new NetlinkError(what, errno, c.strerror(errno), extAck);
}

export class NetlinkSocket implements Transport, BatchTransport {
  private readonly libc: Libc;
  private readonly fd: number;
  private seq = 0;
  private readonly buffer = new Uint8Array(RECEIVE_BUFFER);

  private constructor(libc: Libc, fd: number) {
    this.libc = libc;
    this.fd = fd;
  }

  /** A socket of `protocol` in the namespace at `netnsPath`, or in the caller's when none is given. */
  static open(c: Libc, protocol: number, netnsPath?: string): NetlinkSocket {
    const create = () => new NetlinkSocket(c, createSocket(c, protocol));
    return netnsPath ? runInNetns(c, netnsPath, create) : create();
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** For a socket opened for one job (lib/netlink/tc.ts); the invocation's own live until exit. */
  close(): void {
    this.libc.close(this.fd);
  }

  /**
   * Sends one request (built with `seq`) and collects its answer: the messages of a dump up to
   * NLMSG_DONE, or the ACK; a kernel error rejects with NetlinkError.
   */
  request(what: string, message: Uint8Array, seq: number, dump: boolean): Message[] {
    const c = this.libc;
    if (c.send(this.fd, c.ptr(message), message.length, 0) !== message.length) throw failure(c, `send ${what}`);
    const answers: Message[] = [];
    for (;;) {
      const length = c.recv(this.fd, c.ptr(this.buffer), this.buffer.length, MSG_TRUNC);
      if (length < 0) throw failure(c, `receive ${what}`);
      if (length > this.buffer.length) throw new Error(`netlink: answer to ${what} truncated (${length} bytes)`);
      // Copied once per datagram (the buffer is reused by the next receive); the messages are views
      // into the copy. A copy per message cost an ArrayBuffer per route of a 5,000-route dump.
      for (const answer of parseMessages(this.buffer.slice(0, length))) {
        if (answer.seq !== seq) continue; // a late answer to an earlier request
        if (answer.type === NLMSG_ERROR) {
          const { errno, text } = decodeError(answer);
          if (errno !== 0) throw failure(c, what, errno, text);
          if (!dump) return answers;
        } else if (answer.type === NLMSG_DONE) {
          return answers;
        } else {
          answers.push(answer);
          if (!dump && !(answer.flags & NLM_F.MULTI)) return answers;
        }
      }
    }
  }

  /**
   * Sends a batch in one send(2) and collects an ACK or error per seq in `seqs`. The kernel
   * handles a batch inside our send (nfnetlink_rcv_batch runs in the sender's context) and queues
   * its answers before send returns, all at the end of the batch (nfnl_err_deliver). Once an
   * error has come, the rest is read without waiting: on some refusals (ENOMEM, a malformed
   * batch) the kernel answers only once, and waiting for the others would hang.
   */
  exchange(what: string, messages: Uint8Array, seqs: readonly number[]): Ack[] {
    const c = this.libc;
    if (c.send(this.fd, c.ptr(messages), messages.length, 0) !== messages.length) throw failure(c, `send ${what}`);
    const pending = new Set(seqs);
    const acks: Ack[] = [];
    let failed = false;
    while (pending.size > 0) {
      const length = c.recv(this.fd, c.ptr(this.buffer), this.buffer.length, MSG_TRUNC | (failed ? MSG_DONTWAIT : 0));
      if (length < 0) {
        const errno = c.errno();
        if (failed && errno === EAGAIN) break;
        throw failure(c, `receive ${what}`, errno);
      }
      if (length > this.buffer.length) throw new Error(`netlink: answer to ${what} truncated (${length} bytes)`);
      for (const answer of parseMessages(this.buffer.subarray(0, length))) {
        if (answer.type !== NLMSG_ERROR) continue;
        const { errno, text } = decodeError(answer);
        if (!pending.delete(answer.seq) && errno === 0) continue; // a late ACK of an earlier request
        acks.push(text ? { seq: answer.seq, errno, text } : { seq: answer.seq, errno });
        if (errno !== 0) failed = true;
      }
    }
    return acks;
  }
}

/**
 * Runs `action` with the calling thread in the network namespace at `netnsPath`, and comes
 * straight back: for what binds to the namespace of the thread at the moment it is made (a socket,
 * an open /proc/sys/net file, which shows the opener's namespace). `action` must be synchronous
 * and do that one thing: while it runs, this thread (the only one running our code) is in the pod.
 * Failing to get back throws (the command fails), as it always has for the socket.
 */
export function runInNetns<T>(c: Libc, netnsPath: string, action: () => T): T {
  const home = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    const target = fs.openSync(netnsPath, 'r');
    try {
      if (c.setns(target, CLONE_NEWNET) !== 0) throw failure(c, `setns ${netnsPath}`);
    } finally {
      fs.closeSync(target);
    }
    try {
      const result = action();
      if (result instanceof Promise) throw new Error('runInNetns: the action must be synchronous');
      return result;
    } finally {
      // Back home before anything else runs; failing that, this thread's view is wrong for good.
      if (c.setns(home, CLONE_NEWNET) !== 0) throw failure(c, 'setns back to the node namespace');
    }
  } finally {
    fs.closeSync(home);
  }
}

function createSocket(c: Libc, protocol: number): number {
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw failure(c, 'socket(AF_NETLINK)');
  const one = new Int32Array([1]);
  const pointer = c.ptr(new Uint8Array(one.buffer));
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, pointer, 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, pointer, 4);
  return fd;
}
