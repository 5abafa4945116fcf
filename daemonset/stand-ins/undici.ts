// Stands in for undici in the agent's bundle (scripts/build.ts). client-node imports undici for its
// own transport; the agent sends every request through kube/http.ts over node:http(s), so none of
// these is ever reached. One that is would be a bug: fail loudly.
function excluded(name: string): never {
  throw new Error(`undici.${name} is not in bridgeway-agent: Kubernetes API requests go through daemonset/kube/http.ts`);
}

export function fetch(): never {
  return excluded('fetch');
}

export class Agent {
  constructor() {
    excluded('Agent');
  }
}

export class ProxyAgent {
  constructor() {
    excluded('ProxyAgent');
  }
}
