// Pure: the plugin's anti-spoofing table (issue 17, lib/antispoof/ruleset.ts) against what the
// conflist asks for and the pods on this node. The table judges only the ports in guarded_ports,
// which ADD puts there with the rest of the attachment's elements: a pod without its port there
// (one that predates the table, after an upgrade) keeps working, unprotected, until recreated;
// a guarded port lacking some element is cut off from what that element allows. Expected
// elements are the plugin's own derivation (attachmentElements with podMac), from the IPAM
// inventory's addresses of each live attachment.
//
//   antiSpoofing (conflist; absent: ANTI_SPOOFING_DEFAULT)  table    pods here   finding
//   false                                                   any      any         OK  off by configuration
//   true                                                    absent   none        OK  the first ADD makes it
//   true                                                    absent   some        FAIL the pods predate it: recreate them
//   true                                                    present  -           FAIL per port not guarded (unprotected),
//                                                                                 FAIL per guarded port lacking elements,
//                                                                                 WARN per gone port with elements
import { elementId, elementPort } from '../../../lib/antispoof/nft-json.ts';
import { DELETE_TABLE } from '../../../lib/antispoof/nft-cli.ts';
import { antispoofRuleset, attachmentElements, SET, type Element } from '../../../lib/antispoof/ruleset.ts';
import { formatIp, parseIp, type IpAddress } from '../../../lib/cidr.ts';
import { podMac } from '../../../lib/mac.ts';
import { ANTI_SPOOFING_DEFAULT, ANTISPOOF_TABLE, HOST_VETH_PREFIX } from '../../../lib/names.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { Reservation } from '../facts.ts';
import type { CheckContext } from './context.ts';
import { checkOvsGuards } from './ovs-guard.ts';

const TABLE = `nftables table bridge ${ANTISPOOF_TABLE}`;
const RECREATE = 'recreate the pod, or restart it: the next ADD adds its elements';
const GUARD = 'recreate the pod (kubectl delete pod): its ADD guards the port with all its elements';

/** `pluginDefault`: what a conflist without the key gets (a parameter so both defaults are tested). */
export function checkAntispoof({ facts, conflist }: CheckContext, pluginDefault: boolean = ANTI_SPOOFING_DEFAULT): Finding[] {
  // OVS switches the pods' frames past the bridge family's hooks: the plugin neither makes nor fills
  // the table there; its guard is OpenFlow flows, judged by ovs-guard.ts.
  if (facts.settings.bridgeType === 'ovs') {
    return [ok('antispoof', TABLE, 'not expected: the pods\' switch is Open vSwitch, whose frames never pass a Linux bridge\'s netfilter hooks (anti-spoofing is OpenFlow flows on the bridge there)'),
      ...checkOvsGuards(facts.policy.steering, facts.settings.bridge)];
  }
  const configured = conflist?.antiSpoofing;
  if (configured === false) return [ok('antispoof', TABLE, 'not expected: off by configuration ("antiSpoofing": false in the conflist)')];
  if (configured === undefined && !pluginDefault) return [ok('antispoof', TABLE, 'not expected: the conflist has no "antiSpoofing" key, and this build\'s plugin does not install the table')];
  const why = configured ? '"antiSpoofing": true in the conflist' : 'the plugin\'s default, the conflist has no "antiSpoofing" key';
  // Every bridgeway host veth is a pod port ADD guards, whatever network it belongs to.
  const ports = facts.links.map((l) => l.name).filter((name) => name.startsWith(HOST_VETH_PREFIX));
  const table = facts.antispoof;
  if ('error' in table) return [warn('antispoof', TABLE, `cannot be read: ${table.error}`, `run \`nft -j list table bridge ${ANTISPOOF_TABLE}\` to see why`)];
  if ('absent' in table && table.absent === 'nft') return [warn('antispoof', TABLE, 'cannot be checked: nft is not installed here', 'install nftables (the agent\'s image has it), or run the doctor in the agent\'s pod')];
  if ('absent' in table) {
    if (ports.length === 0) return [ok('antispoof', TABLE, `absent, and no pod on this node yet: the first pod's ADD creates it (${why})`)];
    return [fail('antispoof', TABLE, `missing, while anti-spoofing is on (${why}): the ${ports.length} pod${ports.length === 1 ? '' : 's'} on this node started before the protection was installed and ${ports.length === 1 ? 'is' : 'are'} unprotected until recreated`,
      'recreate every pod on this node (kubectl delete pod, or drain the node): the first ADD creates the table and each ADD guards its pod\'s port; a pod not yet recreated keeps working, unprotected')];
  }
  const findings: Finding[] = [];
  const missingSets = antispoofRuleset().sets.map((s) => s.name).filter((name) => !table.sets.includes(name));
  if (missingSets.length) {
    findings.push(fail('antispoof', TABLE, `incomplete: no set ${missingSets.join(', ')} (not made by this version's plugin)`,
      `\`${DELETE_TABLE.join(' ')}\`, then recreate every pod on this node: the first ADD makes the whole table`));
  }
  const held = new Set(table.elements.map(elementId));
  const attachments = facts.ipam.delegatedTo || facts.ipam.error ? [] : liveAttachments(facts.ipam.reservations, new Set(ports));
  for (const a of attachments) {
    const expected = attachmentElements({ port: a.hostVeth, mac: podMac(a.addresses), addresses: a.addresses });
    const missing = expected.filter((e) => !held.has(elementId(e)));
    if (missing.length === 0) continue;
    const who = `container ${a.containerId} (${a.ifname}, ${a.addresses.map(formatIp).join(', ')})`;
    if (missing.some((e) => e.set === SET.guarded)) {
      // Not guarded: the base chain lets its frames through unjudged, whatever else the table holds.
      findings.push(fail('antispoof', `port ${a.hostVeth}`, `unprotected: ${who} started before the anti-spoofing table (an upgrade), or its elements were deleted: its port is not in ${SET.guarded}, so the bridge does not check what it sends; it keeps working`, GUARD));
      continue;
    }
    // Guarded: without its MAC the base chain drops everything the port sends; without an address, what it sends from it.
    const effect = missing.some((e) => e.set === 'port_mac') ? 'the bridge drops every frame it sends' : 'the bridge drops what it sends from those addresses';
    findings.push(fail('antispoof', `port ${a.hostVeth}`, `${who} is guarded but lacks ${missing.length} of its ${expected.length} anti-spoofing elements (${missing.map(describe).join(', ')}): ${effect}`, RECREATE));
  }
  const live = new Set(facts.links.map((l) => l.name));
  const gone = new Map<string, number>();
  for (const e of table.elements) {
    const port = elementPort(e);
    if (port !== undefined && !live.has(port)) gone.set(port, (gone.get(port) ?? 0) + 1);
  }
  for (const [port, count] of [...gone].sort()) {
    findings.push(warn('antispoof', `port ${port}`, `${count} anti-spoofing element${count === 1 ? '' : 's'} of a port that no longer exists (a pod deleted without CNI DEL)`, 'the runtime\'s CNI GC removes them (bridgeway GC deletes elements of ports that are gone)'));
  }
  if (!findings.some((f) => f.severity === 'FAIL')) {
    const checked = facts.ipam.delegatedTo ? `present; elements not compared: IPAM is delegated to ${facts.ipam.delegatedTo}` : `present, with the elements of all ${attachments.length} live attachment${attachments.length === 1 ? '' : 's'}`;
    findings.push(ok('antispoof', TABLE, `${checked} (${why})`));
  }
  return findings;
}

interface LiveAttachment {
  containerId: string;
  ifname: string;
  hostVeth: string;
  /** Every family's address, as IPAM holds them. */
  addresses: IpAddress[];
}

/** The inventory's reservations grouped per attachment (one per family), for host veths that exist. */
function liveAttachments(reservations: readonly Reservation[], ports: ReadonlySet<string>): LiveAttachment[] {
  const byVeth = new Map<string, LiveAttachment>();
  for (const r of reservations) {
    if (!ports.has(r.hostVeth)) continue; // a leak: the ipam check names it
    const address = parseIp(r.address);
    if (!address) continue;
    const entry = byVeth.get(r.hostVeth) ?? { containerId: r.containerId, ifname: r.ifname, hostVeth: r.hostVeth, addresses: [] };
    entry.addresses.push(address);
    byVeth.set(r.hostVeth, entry);
  }
  return [...byVeth.values()];
}

/** `port_ipv4 10.244.1.2`: the set and the key after the port. */
function describe(e: Element): string {
  return `${e.set} ${e.key.slice(1).map((part) => ('mac' in part ? part.mac : 'ip' in part ? formatIp(part.ip) : part.ifname)).join(' . ')}`;
}
