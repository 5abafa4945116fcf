// `bridgeway-agent doctor`: gather the facts once, run the pure checks, print one line per
// finding (or one JSON document); exit 1 when anything FAILs. With --fix-leaks it also releases
// reservations whose attachment is gone, the one change it makes, and says which.
import { openStores, releaseAttachment } from '../../ipam/index.ts';
import type { AgentConfig } from '../config.ts';
import { findLeaks, runChecks } from './checks/index.ts';
import type { DoctorFacts, Reservation } from './facts.ts';
import { gatherFacts, type GatherDeps } from './gather.ts';
import { makeReport, renderJson, renderText } from './render.ts';

/**
 * An ADD reserves its address a moment before it creates the host veth; a reservation younger
 * than this may be such an ADD in flight, so --fix-leaks leaves it (and reports it) until later.
 */
export const LEAK_GRACE_MS = 30_000;

export interface DoctorDeps extends GatherDeps {
  write: (text: string) => void;
}

export async function doctor(config: AgentConfig, deps: DoctorDeps): Promise<number> {
  const facts = await gatherFacts(config, deps);
  const released = config.doctor?.fixLeaks ? releaseLeaks(facts) : [];
  const report = makeReport(config.nodeName, facts.settings.mode, runChecks(facts, released));
  deps.write(config.doctor?.json ? renderJson(report) : renderText(report));
  return report.healthy ? 0 : 1;
}

/**
 * Releases what findLeaks names through the plugin's own release path (ipam/index.ts
 * releaseAttachment, which GC and DEL use); returns what it released. Each leak is one family's
 * reservation, so only that family is released: the other may be young, or live.
 */
function releaseLeaks(facts: DoctorFacts, graceMs = LEAK_GRACE_MS): Reservation[] {
  const leaks = findLeaks(facts.ipam.reservations, new Set(facts.links.map((l) => l.name)))
    .filter((leak) => leak.ageMs === undefined || leak.ageMs >= graceMs);
  if (leaks.length === 0) return [];
  const stores = openStores(facts.ipam.dir);
  return leaks.filter((leak) => releaseAttachment(stores, { containerId: leak.containerId, ifname: leak.ifname }, [leak.family]).length > 0);
}
