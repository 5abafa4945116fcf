// An OpenFlow 1.3 connection to an Open vSwitch bridge's management socket
// (<OVS_RUNDIR>/<bridge>.mgmt), in-process (node:net, Bun and Node alike): what `ovs-ofctl
// -O OpenFlow13` does for us, as the agent's image has no ovs-ofctl. HELLO first (a switch that
// cannot speak 1.3 is an error), ECHO answered, each request waits at most `timeoutMs`. FLOW_MODs
// have no reply unless they fail: `flowMods` sends them and a BARRIER, and an ERROR whose xid is
// one of them rejects it. The bytes are protocol.ts's.
import net from 'node:net';
import path from 'node:path';
import { connectUnixSocket } from '../unix-socket.ts';
import {
  barrierRequest, echoReply, flowMod, flowStatsRequest, hello, MessageStream, multipartReply, OFP_VERSION, OFPT, OpenFlowErrorReply,
  OpenFlowProtocolError, parseError, parseFlowStats, parsePortDescs, portDescRequest, type FlowMod, type Message, type PortDesc,
} from './protocol.ts';

export class OpenFlowUnavailableError extends Error {
  override readonly name = 'OpenFlowUnavailableError';
  readonly socket: string;
  constructor(socket: string, reason: string) {
    super(`the Open vSwitch bridge's OpenFlow socket ${socket} ${reason}`);
    this.socket = socket;
  }
}

/** A bridge's OpenFlow management socket: ovs-vswitchd binds it in its run directory, the database socket's. */
export function mgmtSocket(ovsdbSocket: string, bridge: string): string {
  return path.join(path.dirname(ovsdbSocket), `${bridge}.mgmt`);
}

export interface OpenFlowClient {
  portDescs(): Promise<PortDesc[]>;
  /** Flows (every table) whose cookie & mask equals cookie & mask. */
  flowCookies(cookie: bigint, mask: bigint): Promise<{ cookie: bigint; priority: number; table: number }[]>;
  /** Sends the FLOW_MODs, then a BARRIER: resolved once the switch has applied them all. */
  flowMods(mods: readonly FlowMod[]): Promise<void>;
  /**
   * Settles once the connection is over, with why: the switch closed it (ovs-vswitchd stopped or
   * restarted, the bridge deleted), it failed, or close() was called. Never rejects.
   */
  readonly closed: Promise<Error>;
  close(): void;
}

export const DEFAULT_OPENFLOW_TIMEOUT_MS = 5000;

export async function connectOpenFlow(socketPath: string, options: { timeoutMs?: number } = {}): Promise<OpenFlowClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_OPENFLOW_TIMEOUT_MS;
  const socket = await connectUnixSocket(socketPath, timeoutMs, (why) => new OpenFlowUnavailableError(socketPath, why),
    (code, error) => (code === 'ENOENT' ? 'does not exist (no such bridge, or ovs-vswitchd is not running)' : `cannot be reached: ${error.message}`));
  const client = new SocketClient(socket, socketPath, timeoutMs);
  try {
    await client.handshake();
  } catch (error) {
    client.close();
    throw error;
  }
  return client;
}

/** Connects, runs `fn` on the connection and closes it, whatever `fn` does. */
export async function withOpenFlow<T>(socket: string, fn: (client: OpenFlowClient) => Promise<T>, connect: (socket: string) => Promise<OpenFlowClient> = connectOpenFlow): Promise<T> {
  const client = await connect(socket);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

interface Waiter {
  /** Called with each message of this xid; returns true once the request is answered. */
  take: (message: Message) => boolean;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

class SocketClient implements OpenFlowClient {
  private readonly stream = new MessageStream();
  private readonly waiters = new Map<number, Waiter>();
  private nextXid = 1;
  private helloSeen: ((version: number) => void) | undefined;
  private ended: Error | undefined;
  private settleClosed!: (why: Error) => void;
  readonly closed = new Promise<Error>((resolve) => (this.settleClosed = resolve));
  private readonly socket: net.Socket;
  private readonly path: string;
  private readonly timeoutMs: number;

  constructor(socket: net.Socket, path: string, timeoutMs: number) {
    this.socket = socket;
    this.path = path;
    this.timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => {
      let messages: Message[];
      try {
        messages = this.stream.push(chunk);
      } catch (error) {
        this.fail(error as Error);
        return;
      }
      for (const m of messages) this.dispatch(m);
    });
    socket.on('error', (error) => this.fail(new OpenFlowUnavailableError(path, `failed: ${error.message}`)));
    socket.on('close', () => this.fail(new OpenFlowUnavailableError(path, 'closed the connection')));
  }

  private dispatch(m: Message): void {
    if (m.type === OFPT.HELLO) {
      this.helloSeen?.(m.version);
      return;
    }
    if (m.type === OFPT.ECHO_REQUEST) {
      const raw = Buffer.alloc(8 + m.body.length);
      raw.writeUInt8(OFP_VERSION, 0);
      raw.writeUInt8(m.type, 1);
      raw.writeUInt16BE(raw.length, 2);
      raw.writeUInt32BE(m.xid, 4);
      m.body.copy(raw, 8);
      this.socket.write(echoReply(raw));
      return;
    }
    const waiter = this.waiters.get(m.xid);
    if (!waiter) return;
    if (waiter.take(m)) {
      clearTimeout(waiter.timer);
      this.waiters.delete(m.xid);
    }
  }

  private fail(error: Error): void {
    if (this.ended) return;
    this.ended = error;
    this.settleClosed(error);
    // A stream that failed to parse cannot find the next message's start again: done with it.
    this.socket.destroy();
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    this.waiters.clear();
  }

  async handshake(): Promise<void> {
    const version = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new OpenFlowUnavailableError(this.path, `sent no HELLO within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.helloSeen = (v) => {
        clearTimeout(timer);
        resolve(v);
      };
      this.socket.write(hello(this.xid()));
    });
    if (version < OFP_VERSION) throw new OpenFlowProtocolError(`the switch at ${this.path} speaks OpenFlow up to version ${version}, bridgeway needs 1.3 (0x04): add OpenFlow13 to the bridge's protocols`);
  }

  private xid(): number {
    return this.nextXid++;
  }

  /** Sends `bytes` (xid `xid`) and resolves with what `take` collects once it says done. */
  private request<T>(xid: number, bytes: Buffer, what: string, take: (m: Message) => T | undefined): Promise<T> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(xid);
        reject(new OpenFlowUnavailableError(this.path, `did not answer ${what} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiters.set(xid, {
        take: (m) => {
          if (m.type === OFPT.ERROR) {
            const { type, code } = parseError(m.body);
            reject(new OpenFlowErrorReply(type, code, what));
            return true;
          }
          const done = take(m);
          if (done === undefined) return false;
          resolve(done);
          return true;
        },
        reject,
        timer,
      });
      this.socket.write(bytes);
    });
  }

  private multipart<T>(bytes: (xid: number) => Buffer, what: string, parse: (entries: Buffer) => T[]): Promise<T[]> {
    const xid = this.xid();
    const all: T[] = [];
    return this.request(xid, bytes(xid), what, (m) => {
      if (m.type !== OFPT.MULTIPART_REPLY) return undefined;
      const reply = multipartReply(m.body);
      all.push(...parse(reply.entries));
      return reply.more ? undefined : all;
    });
  }

  portDescs(): Promise<PortDesc[]> {
    return this.multipart((xid) => portDescRequest(xid), 'a port description request', parsePortDescs);
  }

  flowCookies(cookie: bigint, mask: bigint) {
    return this.multipart((xid) => flowStatsRequest(xid, cookie, mask), 'a flow statistics request', parseFlowStats);
  }

  async flowMods(mods: readonly FlowMod[]): Promise<void> {
    // Errors to a FLOW_MOD arrive before the BARRIER_REPLY (the switch answers in order).
    const failures: Promise<unknown>[] = [];
    const sent: number[] = [];
    for (const mod of mods) {
      const xid = this.xid();
      sent.push(xid);
      const what = `FLOW_MOD ${mod.command} (priority ${mod.priority ?? 0})`;
      // Never answered on success: settled as done by the barrier below.
      failures.push(this.request(xid, flowMod(mod, xid), what, () => undefined).catch((e: unknown) => (e instanceof OpenFlowErrorReply ? e : undefined)));
    }
    const xid = this.xid();
    await this.request(xid, barrierRequest(xid), 'a BARRIER', (m) => (m.type === OFPT.BARRIER_REPLY ? true : undefined));
    // Everything before the barrier is answered: a FLOW_MOD still waiting succeeded.
    const refused: Error[] = [];
    for (const pending of sent) {
      const w = this.waiters.get(pending);
      if (!w) continue;
      clearTimeout(w.timer);
      this.waiters.delete(pending);
      w.reject(new Error('succeeded'));
    }
    for (const outcome of await Promise.all(failures)) if (outcome instanceof OpenFlowErrorReply) refused.push(outcome);
    if (refused.length) throw refused[0]!;
  }

  close(): void {
    this.fail(new OpenFlowUnavailableError(this.path, 'was closed'));
  }
}
