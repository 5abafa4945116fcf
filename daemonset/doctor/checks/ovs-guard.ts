// Pure: the pods' anti-spoofing flows on an Open vSwitch bridge (lib/openflow/port-guard.ts)
// against the guarded ports the database holds (gather-steering.ts read both). Each guarded port
// must hold every flow of its guard (same tables and priorities under its cookie) and the bridge
// the pipeline flows; a guard whose port is gone is a leftover. The agent puts missing flows back
// at every sync and at once after an ovs-vswitchd restart, so a FAIL here that lasts means it is
// not running or cannot reach the bridge or the database.
import { formatIp } from '../../../lib/cidr.ts';
import {
  ATTACHMENT_COOKIE_MASK, COOKIE_PREFIX_MASK, GUARD_COOKIE_PREFIX, missingGuardFlows, pipelineFlows, planPortGuard,
} from '../../../lib/openflow/port-guard.ts';
import type { SteeringFacts } from '../facts.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';

const FIX = 'see the agent\'s log and /readyz (step ovs-steering): it puts the flows back at every sync; recreating the pod (its ADD) does too';

export function checkOvsGuards(steering: SteeringFacts | undefined, bridge: string): Finding[] {
  const object = `anti-spoofing flows on ${bridge}`;
  if (!steering) return [warn('antispoof', object, 'not read', FIX)];
  if ('error' in steering) {
    return /does not exist/.test(steering.error)
      ? [ok('antispoof', object, `no bridge yet (no pod on this node): nothing to guard (${steering.socket} absent)`)]
      : [warn('antispoof', object, `cannot be read: ${steering.error}`, FIX)];
  }
  const guards = steering.guards;
  if (!guards) return [warn('antispoof', object, 'not read', FIX)];
  if ('error' in guards) return [warn('antispoof', object, `the guarded ports cannot be read from the database: ${guards.error}`, FIX)];
  const findings: Finding[] = [];
  const pipeline = pipelineFlows().filter((f) => !guards.present.some((p) => p.cookie === f.add.cookie));
  if (pipeline.length && guards.ports.length) findings.push(fail('antispoof', object, `pipeline flows missing (${pipeline.map((f) => f.text).join('; ')}): guarded pods' frames go nowhere`, FIX));
  const wanted = new Set<bigint>();
  let complete = 0;
  for (const port of guards.ports) {
    wanted.add(port.cookie);
    const have = guards.present.filter((p) => (p.cookie & ATTACHMENT_COOKIE_MASK) === port.cookie);
    const missing = missingGuardFlows(planPortGuard(port), have);
    if (missing.length === 0) {
      complete++;
      continue;
    }
    const what = missing.length === planPortGuard(port).length ? 'has no anti-spoofing flow: its pod can send as any address or MAC' : `lacks ${missing.length} anti-spoofing flow(s) (${missing.join('; ')})`;
    findings.push(fail('antispoof', `port ${port.name} (ofport ${port.ofport}, ${port.addresses.map(formatIp).join(', ')})`, what, FIX));
  }
  const leftovers = new Set(guards.present.filter((p) => (p.cookie & COOKIE_PREFIX_MASK) === GUARD_COOKIE_PREFIX && !wanted.has(p.cookie & ATTACHMENT_COOKIE_MASK)).map((p) => p.cookie & ATTACHMENT_COOKIE_MASK));
  if (leftovers.size) {
    findings.push(warn('antispoof', object, `${leftovers.size} guard(s) of ports no longer on the bridge (cookies ${[...leftovers].map((c) => `0x${c.toString(16)}`).join(', ')}): a new port given the same ofport would be judged by them`,
      'the agent\'s next sync or the plugin\'s GC deletes them'));
  }
  if (findings.length === 0) {
    findings.push(ok('antispoof', object, guards.ports.length ? `in place for ${complete} guarded port${complete === 1 ? '' : 's'}` : 'no guarded port on the bridge ("antiSpoofing": false, or pods made before this version)'));
  }
  return findings;
}
