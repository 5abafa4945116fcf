// Pure: what the agent and the plugin keep on disk: the conflist (present, parseable, our
// podCIDR, a version the runtime speaks, the one the runtime picks), the plugin executable (the
// agent's build) and the IPAM reservations (each with a live attachment).
import { formatCidr } from '../../../lib/cidr.ts';
import { runtimeAccepts } from '../../conflist/cni-version.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { Reservation } from '../facts.ts';
import { normalCidr, type CheckContext } from './context.ts';
import { PLUGIN_TYPE } from '../../../lib/names.ts';

const AGENT_WRITES = 'the agent writes it last, once routes and chains are in place: see its log and `/readyz`';

export function checkConflist({ facts, conflist, conflistError, podCIDRs, self }: CheckContext): Finding[] {
  const { path, file, before } = facts.conflist;
  if ('missing' in file) return [fail('conflist', path, 'missing: the runtime reports the network not ready and starts no pod', AGENT_WRITES)];
  if ('error' in file) return [fail('conflist', path, `unreadable: ${file.error}`, `check the permissions of ${path}`)];
  if (!conflist) return [fail('conflist', path, `does not parse: ${conflistError}`, `delete it; ${AGENT_WRITES}`)];
  const findings: Finding[] = [];
  if (conflist.type !== PLUGIN_TYPE) findings.push(fail('conflist', path, `its first plugin is ${JSON.stringify(conflist.type)}, not bridgeway`, `delete it; ${AGENT_WRITES}`));
  // The agent writes one subnet per podCIDR, in the order ownPodCidrs gives them (IPv4 first).
  const written = conflist.subnets.join(', ') || '(none)';
  const subnets = conflist.subnets.map(normalCidr).join(', ');
  if (!podCIDRs) {
    findings.push(warn('conflist', `${path} subnet`, `${written}; this node's podCIDR is unknown, so it cannot be compared`, 'see the podCIDR finding'));
  } else if (subnets !== podCIDRs.map(formatCidr).join(', ')) {
    findings.push(fail('conflist', `${path} subnet`, `${written}, but the node's podCIDR is ${podCIDRs.map(formatCidr).join(', ')}: new pods get addresses other nodes route elsewhere`, AGENT_WRITES));
  } else {
    findings.push(ok('conflist', `${path} subnet`, `${subnets} = the node's podCIDR`));
  }
  const version = conflist.cniVersion ?? '(none)';
  const runtime = self?.containerRuntimeVersion;
  if (runtime && !runtimeAccepts(runtime, version)) {
    findings.push(fail('conflist', `${path} cniVersion`, `${version}, which ${runtime} does not speak: every pod start fails`, 'set BRIDGEWAY_CNI_VERSION=1.0.0 (--cni-version) in the ConfigMap'));
  } else {
    findings.push(ok('conflist', `${path} cniVersion`, runtime ? `${version} (spoken by ${runtime})` : `${version} (runtime unknown${facts.settings.mode === 'standalone' ? ' in standalone mode' : ''})`));
  }
  if (before.length) {
    findings.push(warn('conflist', before[0]!, `sorts before ${path}: the runtime uses the first network config, not ours`, `remove ${before.join(', ')} (or rename it after ours)`));
  }
  return findings;
}

export function checkPlugin({ facts }: CheckContext): Finding[] {
  const { path, source, installed, sameAsSource, error } = facts.plugin;
  const install = 'the agent installs it on every sync: check that it runs, or run `bridgeway-agent --once` with its flags';
  if (error) return [fail('plugin', path, `unreadable: ${error}`, install)];
  if (!installed) return [fail('plugin', path, 'missing: every pod start fails (the runtime cannot find the bridgeway plugin)', install)];
  if (!installed.executable) return [fail('plugin', path, 'not executable', `chmod 0755 ${path}`)];
  if (sameAsSource === undefined) return [warn('plugin', path, `installed (${installed.size} bytes); ${source} is absent, so its version cannot be compared`, 'set --plugin-binary to the plugin shipped with this agent')];
  if (!sameAsSource) return [warn('plugin', path, `differs from the agent's build ${source}: another version`, install)];
  return [ok('plugin', path, `the agent's build (same as ${source})`)];
}

/** Leaks: reservations whose host veth is gone (the pod was deleted without CNI DEL). */
export function findLeaks(reservations: readonly Reservation[], linkNames: ReadonlySet<string>): Reservation[] {
  return reservations.filter((r) => !linkNames.has(r.hostVeth));
}

export function checkIpam({ facts }: CheckContext, released: readonly Reservation[] = []): Finding[] {
  const { ipam } = facts;
  if (ipam.delegatedTo) return [ok('ipam', ipam.dir, `IPAM is delegated to ${ipam.delegatedTo}: its reservations are its own`)];
  if (ipam.error) return [warn('ipam', ipam.dir, `cannot read the reservations: ${ipam.error}`, `check ${ipam.dir} (--data-dir)`)];
  const linkNames = new Set(facts.links.map((l) => l.name));
  const findings: Finding[] = released.map((r) => ok('ipam', `address ${r.address}`, `released (container ${r.containerId}, ${r.ifname}: its host veth ${r.hostVeth} was gone)`));
  const releasedAddresses = new Set(released.map((r) => r.address));
  const leaks = findLeaks(ipam.reservations, linkNames).filter((r) => !releasedAddresses.has(r.address));
  for (const leak of leaks) {
    findings.push(warn('ipam', `address ${leak.address}`, `reserved for container ${leak.containerId} (${leak.ifname}), whose host veth ${leak.hostVeth} is gone: a pod deleted without CNI DEL`,
      'bridgeway-agent doctor --fix-leaks (or let the runtime\'s CNI GC release it)'));
  }
  const live = ipam.reservations.length - leaks.length - released.length;
  findings.push(ok('ipam', ipam.dir, `${live} reservation${live === 1 ? '' : 's'} with a live host veth`));
  return findings;
}
