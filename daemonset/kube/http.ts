// The agent's transport to the Kubernetes API: node:http(s) requests, authenticated by
// client-node's KubeConfig (applyToHTTPSOptions: the cluster's CA and TLS server name, client
// certificates, the bearer token from a token file, exec plugin or auth provider, and a proxy agent,
// as kubectl reads a kubeconfig). Not client-node's own transport: that is undici, a second HTTP
// stack beside Node's, which the agent's bundle leaves out (scripts/build.ts): every request to the
// API server must go through here.
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js';

/** A non-2xx answer from the API server; `body` is usually a Status object (JSON). */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly body: string;

  constructor(statusCode: number, body: string) {
    super(`HTTP ${statusCode}`);
    this.name = 'KubeApiError';
    this.statusCode = statusCode;
    this.body = body;
  }
}

/** Every request but a watch ends within this (a watch ends after 30 s of silence, KubeWatch). */
export const REQUEST_TIMEOUT_MS = 30_000;

export type QueryParams = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: 'GET' | 'PATCH' | 'POST';
  /** The API path, e.g. /api/v1/nodes/a. */
  path: string;
  query?: QueryParams;
  /** A JSON body and its media type (for a PATCH: the patch strategy). */
  body?: { contentType: string; json: unknown };
  signal?: AbortSignal;
}

/** One request; resolves with the body of a 2xx response, rejects with KubeApiError otherwise. */
export async function kubeRequest(kc: KubeConfig, request: KubeRequest): Promise<string> {
  const response = await send(kc, request);
  const body = await readBody(response);
  if (!isSuccess(response)) throw new KubeApiError(response.statusCode ?? 0, body);
  return body;
}

/**
 * A watch stream under the contract client-node's ListWatch drives (that of client-node's Watch):
 * `callback(type, object, event)` for every event line; `done(err)` once when the stream ends
 * (null when the server ended it); the returned AbortController ends it. A stream silent for
 * `inactivityMs` (30 s, as client-node's Watch) ends with a TimeoutError, which ListWatch reopens
 * at once from the same resourceVersion: a half-open connection must not freeze the routes. In a
 * busy cluster a Node watch is rarely that quiet; in a quiet one this is one cheap request per 30 s.
 */
export class KubeWatch {
  private readonly kc: KubeConfig;
  private readonly inactivityMs: number;

  constructor(kc: KubeConfig, inactivityMs = 30_000) {
    this.kc = kc;
    this.inactivityMs = inactivityMs;
  }

  async watch(
    path: string,
    queryParams: QueryParams,
    callback: (type: string, object: any, event: any) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    let finished = false;
    let silence: NodeJS.Timeout | undefined;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(silence);
      controller.abort();
      done(err);
    };
    const rearm = () => {
      clearTimeout(silence);
      silence = setTimeout(() => finish(new DOMException(`the watch was silent for ${this.inactivityMs} ms`, 'TimeoutError')), this.inactivityMs);
      silence.unref();
    };
    try {
      rearm();
      const response = await send(this.kc, { method: 'GET', path, query: { ...queryParams, watch: true }, signal: controller.signal });
      if (!isSuccess(response)) throw new KubeApiError(response.statusCode ?? 0, await readBody(response));
      rearm();
      response.on('data', rearm);
      response.on('error', finish);
      // A stream cut before the server ended it (connection reset) is an error, as with client-node.
      response.on('close', () => finish(response.complete ? null : Object.assign(new Error('the watch stream was cut'), { code: 'ECONNRESET' })));
      const lines = createInterface({ input: response, crlfDelay: Infinity });
      lines.on('error', finish); // readline re-emits the stream's errors
      lines.on('line', (line) => {
        let event: { type?: unknown; object?: unknown };
        try {
          event = JSON.parse(line) as { type?: unknown; object?: unknown };
        } catch {
          return; // as client-node: a line that is not JSON is skipped
        }
        callback(String(event.type), event.object, event);
      });
    } catch (error) {
      finish(error);
    }
    return controller;
  }
}

/**
 * Connections are kept for the next request, as client-go does: the agents client-node makes close
 * each one after its request, and a 5,000-node list is 50 requests (50 TLS handshakes).
 */
const keepAliveAgents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/** Sends the request; resolves once the response headers are in. */
async function send(kc: KubeConfig, request: KubeRequest, attempt = 1): Promise<http.IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig: no current cluster');
  const url = new URL(cluster.server + request.path);
  for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  const headers: Record<string, string> = { Accept: 'application/json' };
  const payload = request.body === undefined ? undefined : JSON.stringify(request.body.json);
  if (request.body) headers['Content-Type'] = request.body.contentType;
  const options: https.RequestOptions = { method: request.method, headers, signal: request.signal };
  // Credentials are applied per request: exec plugins and token files rotate them.
  await kc.applyToHTTPSOptions(options);
  // TLS settings are in `options` (a keep-alive agent pools connections by them); a proxy needs
  // client-node's proxy agent.
  if (!cluster.proxyUrl) options.agent = keepAliveAgents[url.protocol === 'https:' ? 'https:' : 'http:'];
  const transport = url.protocol === 'https:' ? https : http; // http only with insecure-skip-tls-verify (client-node's rule)
  return new Promise((resolve, reject) => {
    const req = transport.request(url, options, resolve);
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A kept connection the server closed just as we reused it: sent again, once, on a new one
      // (Node's documented pattern). Safe here: reads, a watch, and patches that set fixed values.
      if (req.reusedSocket && error.code === 'ECONNRESET' && attempt === 1) resolve(send(kc, request, attempt + 1));
      else reject(error);
    });
    req.end(payload);
  });
}

async function readBody(response: http.IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let body = '';
  for await (const chunk of response) body += chunk as string;
  return body;
}

function isSuccess(response: http.IncomingMessage): boolean {
  const status = response.statusCode ?? 0;
  return status >= 200 && status < 300;
}
