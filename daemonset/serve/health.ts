// /healthz (the process serves), /readyz (the last full sync succeeded, the node view is live and
// the runtime can use the conflist; then the conflist's cniVersion and why),
// /metrics (Prometheus text). The uninstall DaemonSet serves its own routes through listenHttp.
import http from 'node:http';
import type { Metrics } from './metrics.ts';

export interface HealthSources {
  metrics: Metrics;
  /** undefined when ready, else why not. */
  notReadyReason: () => string | undefined;
  /** Lines /readyz adds either way, e.g. the conflist's cniVersion and why. */
  readyDetail?: () => string[];
}

export interface HttpReply {
  status: number;
  body: string;
  type?: string;
}

/** A plain-text HTTP server on `address`, answering each request's path with `route`; rejects when it cannot listen (EADDRINUSE). */
export function listenHttp(address: { host: string; port: number }, route: (path: string) => HttpReply): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const { status, body, type = 'text/plain; charset=utf-8' } = route((req.url ?? '/').split('?')[0]!);
    res.writeHead(status, { 'content-type': type }).end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve(server));
  });
}

export function startHealthServer(address: { host: string; port: number }, sources: HealthSources): Promise<http.Server> {
  return listenHttp(address, (url) => {
    if (url === '/healthz') return { status: 200, body: 'ok\n' };
    if (url === '/readyz') {
      const reason = sources.notReadyReason();
      const detail = (sources.readyDetail?.() ?? []).map((line) => `${line}\n`).join('');
      return reason ? { status: 503, body: `not ready: ${reason}\n${detail}` } : { status: 200, body: `ok\n${detail}` };
    }
    if (url === '/metrics') return { status: 200, body: sources.metrics.render(), type: 'text/plain; version=0.0.4; charset=utf-8' };
    return { status: 404, body: 'not found: try /healthz, /readyz or /metrics\n' };
  });
}
