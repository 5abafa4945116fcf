// Pure: every peer's route, compared with what the agent would plan (routes/plan.ts): present,
// the right next hop, our protocol, and the peer's address on the interface's segment. The
// commands it suggests are the agent's own route changes, spelled by routes/ip-batch.ts.
import { formatCidr } from '../../../lib/cidr.ts';
import { linkAddresses } from '../../host/interface.ts';
import { peersOf } from '../../nodes/peers.ts';
import { describeRouteChange } from '../../routes/ip-batch.ts';
import { planRoutes } from '../../routes/plan.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { CheckContext } from './context.ts';
import { ETH1_ANNOTATION, ROUTE_PROTO } from '../../../lib/names.ts';

const AGENT_FIX = 'the agent restores its routes on every sync: check that it runs (`/readyz`), or run `bridgeway-agent --once` with its flags';

/** Both families' routes: the plan and the main table hold IPv4 and IPv6 routes alike. */
export function checkRoutes({ facts, podCIDRs, iface }: CheckContext): Finding[] {
  if (!('list' in facts.nodes) || !podCIDRs?.length || !iface?.link.up) return []; // reported by checkNode / checkInterface
  const { peers, problems } = peersOf(facts.nodes.list, facts.settings.nodeName, podCIDRs.map((c) => c.family));
  const plan = planRoutes(peers, { name: iface.link.name, addresses: linkAddresses(iface.link) }, podCIDRs);
  const findings: Finding[] = [];
  const byDst = new Map(facts.routes.map((r) => [r.dst, r]));
  for (const route of plan.routes) {
    const object = `route ${route.dst} via ${route.via} dev ${route.dev}`;
    const actual = byDst.get(route.dst);
    const { dst, via, dev } = route;
    const add = describeRouteChange({ op: 'add-route', dst, via, dev });
    if (!actual) {
      findings.push(fail('route', object, `missing: pods on ${route.peer} are unreachable`, `${AGENT_FIX}; by hand: ${add}`));
    } else if (actual.gateway !== route.via || actual.dev !== route.dev) {
      const found = `via ${actual.gateway ?? '(none)'} dev ${actual.dev ?? '?'} proto ${actual.protocol ?? 'boot'}`;
      findings.push(fail('route', object, `wrong next hop: the kernel has ${found} (peer ${route.peer})`,
        actual.protocol === ROUTE_PROTO ? `${AGENT_FIX}; by hand: ${describeRouteChange({ op: 'replace-route', dst, via, dev })}`
          : `someone else owns this route (proto ${actual.protocol ?? 'boot'}): remove it (ip route del ${route.dst}) and let the agent add its own`));
    } else if (actual.protocol !== ROUTE_PROTO) {
      findings.push(warn('route', object, `right next hop, but proto ${actual.protocol ?? 'boot'}, not ours (${ROUTE_PROTO}): the agent leaves it alone and will not repair it`,
        `ip route del ${route.dst} (the agent then adds its own)`));
    } else {
      findings.push(ok('route', object, `proto ${ROUTE_PROTO} (peer ${route.peer})`));
    }
  }
  for (const u of plan.unreachable) {
    findings.push(fail('peer', `peer ${u.peer}`, u.reason, `every node needs an address on one L2 segment: fix ${u.peer}'s --iface/--iface-cidr (its ${ETH1_ANNOTATION} or InternalIP), or this node's`));
  }
  for (const p of problems) {
    findings.push(warn('peer', `peer ${p.name}`, `not routed: ${p.reason}`, p.reason.includes('podCIDR') ? 'kube-controller-manager assigns podCIDRs (--allocate-node-cidrs); wait or fix it' : `start bridgeway on ${p.name}, or give it an InternalIP`));
  }
  const planned = new Set(plan.routes.map((r) => r.dst));
  for (const route of facts.routes) {
    if (route.protocol !== ROUTE_PROTO || planned.has(route.dst)) continue;
    findings.push(warn('route', `route ${route.dst} via ${route.gateway ?? '?'} dev ${route.dev ?? '?'}`, `proto ${ROUTE_PROTO} but no peer has this podCIDR (stale)`, `${AGENT_FIX}; by hand: ${describeRouteChange({ op: 'delete-route', dst: route.dst })}`));
  }
  if (plan.routes.length === 0 && plan.unreachable.length === 0 && problems.length === 0) {
    findings.push(ok('route', `peers of ${facts.settings.nodeName}`, `none yet (own podCIDR ${podCIDRs.map(formatCidr).join(', ')})`));
  }
  return findings;
}
