// /healthz (the process serves), /readyz (the last full sync succeeded, the node view is live and
// the runtime can use the conflist; then the conflist's cniVersion and why),
// /metrics (Prometheus text).
import http from 'node:http';
import type { Metrics } from './metrics.ts';

export interface HealthSources {
  metrics: Metrics;
  /** undefined when ready, else why not. */
  notReadyReason: () => string | undefined;
  /** Lines /readyz adds either way, e.g. the conflist's cniVersion and why. */
  readyDetail?: () => string[];
}

export function startHealthServer(address: { host: string; port: number }, sources: HealthSources): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type }).end(body);
    };
    if (url === '/healthz') return reply(200, 'ok\n');
    if (url === '/readyz') {
      const reason = sources.notReadyReason();
      const detail = (sources.readyDetail?.() ?? []).map((line) => `${line}\n`).join('');
      return reason ? reply(503, `not ready: ${reason}\n${detail}`) : reply(200, `ok\n${detail}`);
    }
    if (url === '/metrics') return reply(200, sources.metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
    return reply(404, 'not found: try /healthz, /readyz or /metrics\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve(server));
  });
}
