// Kubernetes API errors as one line: the message of the server's Status for an HTTP error, the
// errno name for a network error. For logs and for the errors the status writes reject with.

/** The HTTP status of an API error (KubeApiError's statusCode; client-node's own errors use `code`). */
export function httpCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  return typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.code === 'number' ? e.code : undefined;
}

/** A one-line description of an API error (the message of the server's Status) or a network error. */
export function summarize(error: unknown): { message: string; code?: number | string } {
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const e = error as { body?: unknown; message?: unknown; code?: unknown };
  const code = httpCode(error);
  if (code !== undefined) return { message: statusMessage(e.body) ?? firstLine(e.message), code };
  // A network error from node:http(s) carries its errno name (ECONNREFUSED, ...) in `code`.
  return typeof e.code === 'string' ? { message: firstLine(e.message), code: e.code } : { message: firstLine(e.message) };
}

/** `<what>: <HTTP code> <message>`, keeping the original error as the cause. */
export function apiError(what: string, error: unknown): Error {
  const { message, code } = summarize(error);
  return new Error(`${what}: ${typeof code === 'number' ? `${code} ` : ''}${message}`, { cause: error }); // an errno name is in the message already
}

function statusMessage(body: unknown): string | undefined {
  try {
    const status: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    if (typeof status === 'object' && status !== null && 'message' in status && typeof status.message === 'string') return status.message;
  } catch {
    // not a Status
  }
  return undefined;
}

function firstLine(message: unknown): string {
  return String(message ?? 'unknown error').split('\n')[0]!;
}
