// bench:policy's RTT probe as one long-lived client (connect.ts rr-session) inside the client's
// namespace: one Node process and one TCP connection for every round, so each window's figure is
// the path's (bridge, conntrack, the table) and not a Node start, a cold JIT or a new connection.
// The connection is opened before the rounds: in every state its packets are established, as the
// echoes of a running connection are (its SYN was judged once; connects are measured apart).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Lab } from '../support/lab.ts';

export class RttSession {
  private readonly child: ChildProcess;
  private buffered = '';
  private waiting: { resolve: (times: number[]) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      let newline: number;
      while ((newline = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        const waiting = this.waiting;
        this.waiting = undefined;
        if (line !== 'ready') waiting?.resolve(JSON.parse(line) as number[]);
      }
    });
    child.once('exit', (code) => {
      this.failure = new Error(`rr-session exited ${code}`);
      this.waiting?.reject(this.failure);
    });
  }

  /** Starts the client in `netns` against `host:port` and waits for its connection. */
  static async open(lab: Lab, netns: string, script: string, host: string, port: number): Promise<RttSession> {
    const child = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, script, 'rr-session', host, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    lab.track(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`rr-session exited ${code} before it was ready`)));
    });
    return new RttSession(child);
  }

  /** `count` one-byte echoes back to back; each round trip in µs. */
  roundTrips(count: number): Promise<number[]> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child.stdin!.write(`${count}\n`);
    });
  }

  /** The client's pid (nsenter execs node in place). */
  get pid(): number {
    return this.child.pid!;
  }

  close(): void {
    this.child.stdin!.end();
  }
}
