// A connection to a daemon's unix socket within a time limit, its failure in the caller's words:
// the one way the OVSDB and OpenFlow clients reach Open vSwitch (lib/ovsdb, lib/openflow).
import net from 'node:net';
import { errnoCode } from './errors.ts';

/**
 * Resolves with the connected socket; rejects with `unavailable(why)`, where `why` is
 * `explain(errno code)` for a refused or missing socket, or says the time ran out.
 */
export function connectUnixSocket(socketPath: string, timeoutMs: number, unavailable: (why: string) => Error, explain: (code: string | undefined, error: Error) => string): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.createConnection({ path: socketPath });
    const timer = setTimeout(() => {
      s.destroy();
      reject(unavailable(`did not accept a connection within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (error) => {
      clearTimeout(timer);
      reject(unavailable(explain(errnoCode(error), error)));
    });
  });
}
