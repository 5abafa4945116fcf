// Pure: `policy explain <ns>/<pod> <ns>/<pod> <port>/<proto>` from the cluster's objects: the
// tables of the nodes that judge the connection (egress on the source's node, ingress on the
// destination's) compiled as those nodes' agents compile them, and explain() walked through them,
// per IP family both pods have. One verdict line per family, then each side's reason.
import { formatIp, parseIp, type IpAddress } from '../../lib/cidr.ts';
import { compilePolicies } from './compile.ts';
import { explain, type SideVerdict } from './explain.ts';
import { podKey, ruleRefText, type Pod, type Protocol } from './model.ts';
import { PROTOCOL_NUMBER } from './resolve.ts';
import type { PolicyObjects } from './source.ts';

export class ExplainInputError extends Error {
  override name = 'ExplainInputError';
}

export interface ExplainRequest {
  from: string;
  to: string;
  port: number;
  protocol: Protocol;
}

function addresses(pod: Pod): IpAddress[] {
  const texts = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return texts.map(parseIp).filter((ip): ip is IpAddress => ip !== undefined);
}

function side(name: string, verdict: SideVerdict, node: string | undefined): string {
  if (!verdict.judged) return `  ${name} (node ${node ?? '?'}): not isolated, allowed`;
  const by = verdict.isolatedBy.length ? ` (isolated by ${verdict.isolatedBy.join(', ')})` : '';
  if (!verdict.allowed) return `  ${name} (node ${node ?? '?'}): DENIED: no rule of the policies isolating it allows this${by}`;
  return `  ${name} (node ${node ?? '?'}): allowed by ${verdict.allowedBy.map(ruleRefText).join(', ') || 'a pod\'s own traffic to itself'}${by}`;
}

/** The lines to print; throws ExplainInputError for a pod that is not there or cannot be judged. */
export function explainPods(objects: PolicyObjects, request: ExplainRequest): string[] {
  const find = (ref: string): Pod => {
    const pod = objects.pods.find((p) => podKey(p) === ref);
    if (!pod) throw new ExplainInputError(`no pod ${ref}`);
    if (pod.spec.hostNetwork) throw new ExplainInputError(`pod ${ref} uses the host's network: NetworkPolicy never judges it (its traffic is the node's)`);
    if (addresses(pod).length === 0) throw new ExplainInputError(`pod ${ref} has no address yet`);
    return pod;
  };
  const src = find(request.from);
  const dst = find(request.to);
  const compile = (nodeName: string | undefined) => compilePolicies({ ...objects, nodeName: nodeName ?? '' });
  const srcNode = compile(src.spec.nodeName);
  const dstNode = src.spec.nodeName === dst.spec.nodeName ? srcNode : compile(dst.spec.nodeName);
  const proto = PROTOCOL_NUMBER[request.protocol];
  const lines: string[] = [];
  for (const dstIp of addresses(dst)) {
    const srcIp = addresses(src).find((ip) => ip.family === dstIp.family);
    if (!srcIp) continue;
    const conn = { src: srcIp, dst: dstIp, proto, port: request.port };
    const egress = explain(srcNode, conn).egress;
    const ingress = explain(dstNode, conn).ingress;
    const allowed = (!egress.judged || egress.allowed) && (!ingress.judged || ingress.allowed);
    lines.push(
      `${request.from} (${formatAddress(srcIp)}) -> ${request.to} (${formatAddress(dstIp)}) ${request.port}/${request.protocol}: ${allowed ? 'ALLOWED' : 'DENIED'}`,
      side('egress', egress, src.spec.nodeName),
      side('ingress', ingress, dst.spec.nodeName),
    );
  }
  if (lines.length === 0) throw new ExplainInputError(`${request.from} and ${request.to} have no address family in common`);
  const errors = [...srcNode.errors, ...(dstNode === srcNode ? [] : dstNode.errors)];
  for (const e of new Map(errors.map((e) => [`${e.policy}: ${e.message}`, e])).keys()) lines.push(`  note: NetworkPolicy ${e} (it isolates what it selects and allows nothing)`);
  return lines;
}

function formatAddress(ip: IpAddress): string {
  return formatIp(ip);
}
