// An OVSDB client on the database's unix socket, in-process (node:net, on Bun and Node alike):
// what ovs-vsctl does for us, without a process per command, as go-ovs/libovsdb does for ovs-cni.
// One connection per plugin command; each request waits at most `timeoutMs` for its answer, so a
// server that accepts but never answers is an error too, not a hung pod start. The server's
// "echo" keep-alives are answered. The messages are protocol.ts's.
import net from 'node:net';
import { connectUnixSocket } from '../unix-socket.ts';
import { JsonStream, OvsdbProtocolError, transactRequest, transactResults, type Operation, type OperationResult } from './protocol.ts';

/** The database cannot be reached or does not answer: the socket and why. */
export class OvsdbUnavailableError extends Error {
  override readonly name = 'OvsdbUnavailableError';
  readonly socket: string;
  readonly reason: string;
  constructor(socket: string, reason: string) {
    super(`the Open vSwitch database at ${socket} ${reason}`);
    this.socket = socket;
    this.reason = reason;
  }
}

export interface OvsdbClient {
  /** One transaction on `database` (Open_vSwitch by default); the results, one per operation. */
  transact(operations: readonly Operation[], database?: string): Promise<OperationResult[]>;
  close(): void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export const DEFAULT_OVSDB_TIMEOUT_MS = 5000;

export async function connectOvsdb(socketPath: string, options: { timeoutMs?: number } = {}): Promise<OvsdbClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_OVSDB_TIMEOUT_MS;
  const socket = await connectUnixSocket(socketPath, timeoutMs, (why) => new OvsdbUnavailableError(socketPath, why),
    (code, error) => (code === 'ENOENT' ? 'does not exist (is ovsdb-server running?)' : code === 'ECONNREFUSED' ? 'refuses connections (ovsdb-server is not running)' : `cannot be reached: ${error.message}`));
  return new SocketClient(socket, socketPath, timeoutMs);
}

class SocketClient implements OvsdbClient {
  private readonly pending = new Map<number, Pending>();
  private readonly stream = new JsonStream();
  private nextId = 1;
  private failure: Error | undefined;

  private readonly socket: net.Socket;
  private readonly path: string;
  private readonly timeoutMs: number;

  constructor(socket: net.Socket, path: string, timeoutMs: number) {
    this.socket = socket;
    this.path = path;
    this.timeoutMs = timeoutMs;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      let messages: unknown[];
      try {
        messages = this.stream.push(chunk);
      } catch (error) {
        this.fail(new OvsdbProtocolError(`undecodable answer from ${path}: ${(error as Error).message}`));
        return;
      }
      for (const message of messages) this.receive(message as Record<string, unknown>);
    });
    socket.on('error', (error) => this.fail(new OvsdbUnavailableError(path, `failed: ${error.message}`)));
    socket.on('close', () => this.fail(new OvsdbUnavailableError(path, 'closed the connection')));
  }

  private receive(message: Record<string, unknown>): void {
    if (message.method === 'echo') {
      this.socket.write(JSON.stringify({ result: message.params ?? [], error: null, id: message.id }));
      return;
    }
    if (typeof message.id !== 'number') return; // a notification (we subscribe to none)
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.error !== null && message.error !== undefined) waiting.reject(new OvsdbProtocolError(`ovsdb answered an error: ${JSON.stringify(message.error)}`));
    else waiting.resolve(message.result);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
      this.pending.delete(id);
    }
  }

  private request(body: ReturnType<typeof transactRequest>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(body.id as number);
        reject(new OvsdbUnavailableError(this.path, `did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(body.id as number, { resolve, reject, timer });
      this.socket.write(JSON.stringify(body));
    });
  }

  async transact(operations: readonly Operation[], database = 'Open_vSwitch'): Promise<OperationResult[]> {
    const result = await this.request(transactRequest(database, operations, this.nextId++));
    return transactResults(operations, result);
  }

  close(): void {
    this.socket.destroy();
    this.fail(new OvsdbUnavailableError(this.path, 'connection closed by us'));
  }
}
