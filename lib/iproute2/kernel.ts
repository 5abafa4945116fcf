// The Kernel through iproute2 processes: each apply() is one `ip -batch` (inside the namespace
// through nsenter), its queries read back in the same process; sysctls, which `ip` cannot set,
// one `tee` process more (sysctl.ts), and each anti-spoofing change one `nft -f -` (nft.ts), in
// their place in the order of the changes. The plugin uses it where the
// in-process one cannot run (the bundle on Node); test/unit/lib/iproute2/kernel.test.ts pins it.
import type { Runner } from '../exec.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { queryIpJson, runIpBatch } from './batch.ts';
import { isPortGuardChange, type Change, type PortGuardChange, type SysctlChange } from '../kernel/change.ts';
import { toIpCommand, type IpChange } from './change-command.ts';
import { deleteLinkIfPresent, deleteLinksIfPresent, getLink, listLinksOfType, parseLinks } from './link.ts';
import { listMainRoutes, parseRoutes } from './route.ts';
import { applyWithNft, listGuardsWithNft } from './nft.ts';
import { readSysctls, writeSysctls } from './sysctl.ts';

export function iproute2Kernel(run: Runner): Kernel {
  return {
    async apply(changes, queries = [], netns) {
      // In order: a run of sysctls before a link is up must be written before the batch brings it up.
      const runs = splitRuns(changes);
      // The queries ride with the last `ip` run when only nft runs follow it: those change no link.
      const lastIp = runs.findLastIndex((r) => r.kind === 'ip');
      const queriesWithIp = lastIp >= 0 && runs.slice(lastIp + 1).every((r) => r.kind === 'nft');
      let documents: unknown[][] = [];
      for (const [index, part] of runs.entries()) {
        if (part.kind === 'sysctl') await writeSysctls(run, part.changes, { netns });
        else if (part.kind === 'nft') for (const change of part.changes) await applyWithNft(run, change, netns);
        else documents = await runIpBatch(run, [...part.changes, ...(index === lastIp && queriesWithIp ? queries : [])].map(toIpCommand), { netns });
      }
      if (!queriesWithIp && queries.length > 0) documents = await runIpBatch(run, queries.map(toIpCommand), { netns });
      // Changes print nothing: the documents are the queries' answers, in order.
      return documents.slice(documents.length - queries.length).map(parseLinks);
    },
    getLink: (name, netns) => getLink(run, name, { netns }),
    deleteLinkIfPresent: (name) => deleteLinkIfPresent(run, name),
    deleteLinksIfPresent: (names) => deleteLinksIfPresent(run, names),
    listLinks: (kind) => listLinksOfType(run, kind),
    readSysctls: (keys, netns) => readSysctls(run, keys, { netns }),
    listGuards: () => listGuardsWithNft(run),
    async readNamespace(netns, { ipv6 }) {
      // `ip route show` lists IPv4 only and a batch line cannot say -6: IPv6 needs its own process.
      // With details (-d): each link's kind, as rtnetlink's dump carries it.
      const [[links, routes], routes6] = await Promise.all([
        queryIpJson(run, [['addr', 'show'], ['route', 'show']], { netns, details: true }),
        ipv6 ? listMainRoutes(run, 6, { netns, details: true }) : Promise.resolve([]),
      ]);
      return { links: parseLinks(links!), routes: [...parseRoutes(routes!, { details: true }), ...routes6] };
    },
  };
}

type Run = { kind: 'ip'; changes: IpChange[] } | { kind: 'sysctl'; changes: SysctlChange[] } | { kind: 'nft'; changes: PortGuardChange[] };

/** The changes cut where they switch between `ip` lines, sysctls and nft: one process per run (per nft change). */
function splitRuns(changes: readonly Change[]): Run[] {
  const runs: Run[] = [];
  for (const change of changes) {
    const kind = change.op === 'set-sysctl' ? 'sysctl' : isPortGuardChange(change) ? 'nft' : 'ip';
    const last = runs.at(-1);
    if (last?.kind === kind) (last.changes as Change[]).push(change);
    else runs.push({ kind, changes: [change] } as Run);
  }
  return runs;
}
