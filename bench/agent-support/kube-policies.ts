// Kubernetes mode's NetworkPolicies at scale (--policies): the 20 of kube-pods.ts (a default deny
// and an allow-api per namespace, which the relabel of K1c relies on) and as many more as asked,
// spread over the 10 namespaces and 3 of the 4 apps: policy i selects one app in one namespace and allows
// it ingress from another namespace's frontends on a port of its own (10000+i) and on the named
// port `http`, and egress to a third namespace on 20000+i. So every generated rule resolves to the
// ~500 pods of a namespace (at 5,000 pods), as a policy naming a team's namespace does, and the
// agent's own Pod (node 0's, namespace payments, app api) is selected by 1 in 30 of them. None
// selects `worker`, the app K1c relabels that Pod to, so that relabel lifts its egress isolation.
import type { JsonObject } from '../../test/support/fake-apiserver.ts';
import { APPS, appsOf, kubePolicies, NAMESPACES } from './kube-pods.ts';

/** The policy variants one bench:agent run compares (--policies 1000,0,off). */
export interface PolicyVariant {
  /** The report's label: the count, or `off`. */
  name: string;
  /** NetworkPolicies the fake API server serves. */
  policies: number;
  /** false: the agent runs with BRIDGEWAY_NETWORK_POLICY=false (the same objects served, none enforced). */
  enforce: boolean;
}

/** `1000` -> 1,000 policies enforced; `0` -> none served; `off` -> enforcement off, with `offPolicies` served. */
export function parseVariants(text: string): PolicyVariant[] {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  const counts = items.filter((s) => s !== 'off').map(Number);
  if (items.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 0 || n > 20_000)) throw new Error(`--policies: counts (0 to 20000) or off, comma-separated (got ${JSON.stringify(text)})`);
  const largest = Math.max(0, ...counts);
  return items.map((s) => (s === 'off' ? { name: 'off', policies: largest, enforce: false } : { name: s, policies: Number(s), enforce: true }));
}

function generated(i: number): JsonObject {
  const namespace = NAMESPACES[i % NAMESPACES.length]!;
  const apps = APPS.filter((a) => a !== appsOf(0).other);
  const app = apps[Math.floor(i / NAMESPACES.length) % apps.length]!;
  const from = NAMESPACES[(i * 3 + 1) % NAMESPACES.length]!;
  const to = NAMESPACES[(i * 7 + 3) % NAMESPACES.length]!;
  return {
    kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', metadata: { namespace, name: `team-${i}`, uid: `np-${i}`, generation: 1 },
    spec: {
      podSelector: { matchLabels: { app } }, policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: from } }, podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ port: 10000 + i }, { port: 'http' }] }],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { team: to } } }], ports: [{ port: 20000 + i, protocol: 'TCP' }] }],
    },
  };
}

/** `count` policies: the first 20 are kube-pods.ts's, the rest generated. */
export function kubePoliciesAtScale(count: number): JsonObject[] {
  const base = kubePolicies().slice(0, count);
  return [...base, ...Array.from({ length: Math.max(0, count - base.length) }, (_, i) => generated(base.length + i))];
}

/**
 * A policy edit that reaches this node's table: the first generated policy selecting the agent's
 * own Pod (namespace 0, app 0; `team-30` when there are more than 30) gets its ingress port moved
 * (10000+i <-> 30000+i, from what it is). Undefined when no such policy is served.
 */
export function policyEditOf(count: number): { key: string; edit: (policy: JsonObject) => void } | undefined {
  const i = 30;
  if (count <= i) return undefined;
  const key = `${NAMESPACES[0]}/team-${i}`;
  return {
    key,
    edit: (policy) => {
      const port = ((policy.spec as JsonObject).ingress as { ports: { port: number | string }[] }[])[0]!.ports[0]!;
      port.port = port.port === 10000 + i ? 30000 + i : 10000 + i;
    },
  };
}
