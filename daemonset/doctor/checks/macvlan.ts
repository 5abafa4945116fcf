// Pure: the known pains of macvlan networks (issue 20), per network config in macvlan mode:
// a master that is missing or down, an MTU above the master's, vepa's need for a switch that
// sends frames back out of the port they came in by, and the kernel's rule that the node cannot
// reach its own macvlan pods through their master (the fix: `"hostShim": true`).
import { hostShimName } from '../../../lib/names.ts';
import type { DoctorFacts, MacvlanNetworkFacts } from '../facts.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';

const DEFAULT_DST = new Set(['default', '0.0.0.0/0', '::/0']);

/** The master a network's pods hang off: its own key, else the node's default route's interface (as the plugin takes it). */
function masterOf(network: MacvlanNetworkFacts, facts: DoctorFacts): string | undefined {
  if (network.master) return network.master;
  const defaults = facts.routes.filter((r) => DEFAULT_DST.has(r.dst) && r.dev);
  return (defaults.find((r) => !r.dst.includes(':')) ?? defaults[0])?.dev;
}

export function checkMacvlan(facts: DoctorFacts): Finding[] {
  return (facts.macvlan ?? []).flatMap((network) => checkNetwork(network, facts));
}

function checkNetwork(network: MacvlanNetworkFacts, facts: DoctorFacts): Finding[] {
  const object = `macvlan network ${network.network}`;
  const name = masterOf(network, facts);
  if (!name) return [fail('macvlan', object, `${network.path} names no "master" and the node has no default route to take it from: every ADD fails`, `set "master" to the NIC the pods hang off in ${network.path}`)];
  const master = facts.links.find((l) => l.name === name);
  if (!master) {
    return [fail('macvlan', `${object} master ${name}`, `${name} is not an interface of the node's network namespace: every ADD fails`, `set "master" in ${network.path} to one of ${facts.links.map((l) => l.name).filter((n) => n !== 'lo').join(', ')}`)];
  }
  const findings: Finding[] = [];
  findings.push(master.up
    ? ok('macvlan', `${object} master ${name}`, `up, MTU ${master.mtu}, ${network.macvlanMode} mode`)
    : fail('macvlan', `${object} master ${name}`, `${name} is down: the pods' macvlans have no carrier`, `ip link set ${name} up`));
  if (network.mtu !== undefined && network.mtu > master.mtu) {
    findings.push(fail('macvlan', `${object} mtu`, `"mtu" ${network.mtu} is above ${name}'s MTU ${master.mtu}: every ADD fails`, `lower "mtu" in ${network.path} to ${master.mtu} or less (or leave it out to take the master's), or raise ${name}'s MTU`));
  }
  if (network.macvlanMode === 'vepa') {
    findings.push(warn('macvlan', `${object} vepa`,
      `vepa sends traffic between this node's pods out of ${name} to the switch, which must send it back by the same port (reflective relay, "hairpin"); most switch ports do not, and such pods then cannot reach each other`,
      `turn on reflective relay / hairpin on the switch port of ${name} (a Linux bridge: bridge link set dev <port> hairpin on), or use "macvlanMode": "bridge"`));
  }
  if (network.macvlanMode === 'passthru' || network.macvlanMode === 'private') return findings;
  const shim = hostShimName(name);
  const shimLink = facts.links.find((l) => l.name === shim);
  if (!network.hostShim) {
    findings.push(warn('macvlan', `${object} node-to-pod`,
      `the kernel never passes frames between a macvlan and its master, so this node cannot reach its own pods on ${name} (kubelet's probes, hostNetwork pods, the node's own connections)`,
      `set "hostShim": true in ${network.path}: the node gets a bridge-mode macvlan of its own (${shim}) with a route to the pod range`));
  } else if (!shimLink) {
    findings.push(ok('macvlan', `${object} host shim ${shim}`, 'not made yet: the first ADD on this node makes it'));
  } else {
    findings.push(shimLink.up
      ? ok('macvlan', `${object} host shim ${shim}`, 'up: the node reaches its pods through it')
      : fail('macvlan', `${object} host shim ${shim}`, `${shim} is down: the node cannot reach its pods`, `ip link set ${shim} up`));
  }
  return findings;
}
