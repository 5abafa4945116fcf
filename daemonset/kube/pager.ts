// Any collection of the API read page by page from one snapshot (as client-go's pager does), every
// object slimmed as it arrives, so the full objects of a page are garbage before the next one
// comes: what the policy informers list (and relist) from, and what `policy explain` reads.
// (node-list.ts reads Nodes through it, with the page size bench/AGENT.md chose for them.)
import type { KubeConfig } from './config.ts';
import { httpCode } from './errors.ts';
import { kubeRequest } from './http.ts';

/** A continue token can expire mid-list (410); the list then starts over, this many times at most. */
const LIST_ATTEMPTS = 3;

export interface ObjectList<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

export interface PagerOptions {
  /** Objects per page (a Pod with managedFields is ~5-10 KB of JSON: 250 of them ~2 MB). */
  pageSize: number;
  signal: () => AbortSignal;
  relisting?: (attempt: number) => void;
  afterPage?: () => void;
}

/** Every object of the collection at `path`, slimmed page by page; restarted if a continue token expires. */
export async function listAll<T>(kc: KubeConfig, path: string, slim: (object: any) => T, options: PagerOptions): Promise<ObjectList<T>> {
  for (let attempt = 1; ; attempt++) {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let token: string | undefined;
    try {
      do {
        const text = await kubeRequest(kc, { method: 'GET', path, query: { limit: options.pageSize, continue: token }, signal: options.signal() });
        const page = JSON.parse(text) as { items?: unknown[]; metadata?: { resourceVersion?: string; continue?: string } };
        for (const object of page.items ?? []) items.push(slim(object));
        options.afterPage?.();
        resourceVersion = page.metadata?.resourceVersion;
        token = page.metadata?.continue || undefined;
      } while (token);
      return { metadata: { resourceVersion }, items };
    } catch (error) {
      if (!(token !== undefined && httpCode(error) === 410 && attempt < LIST_ATTEMPTS)) throw error; // only a continued page expires
      options.relisting?.(attempt);
    }
  }
}
