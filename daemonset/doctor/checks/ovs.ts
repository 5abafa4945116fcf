// Pure: the Open vSwitch networks of the node (issue 21), per database and per network config of
// "bridgeType": "ovs": the database answers and an ovs-vswitchd applies it; the bridge's datapath
// type (and what the userspace one costs); this network's ports that the database holds and the
// kernel lacks, and host veths that are ports of no bridge at all; a pod whose VLAN is not the
// one its namespace gets now (vlanByNamespace changed after it started); mirrors left behind.
import { OVS_IDS } from '../../../lib/names.ts';
import type { DoctorFacts, OvsDbFacts, OvsNetworkFacts } from '../facts.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';

const CHECK = 'ovs';

export function checkOvs(facts: DoctorFacts): Finding[] {
  const ovs = facts.ovs;
  if (!ovs) return [];
  const links = new Set(facts.links.map((l) => l.name));
  const findings: Finding[] = [];
  for (const [socket, db] of Object.entries(ovs.dbs)) {
    if ('error' in db) {
      findings.push(fail(CHECK, `ovsdb-server ${socket}`, `${db.error}: every ADD on ${networksOf(ovs.networks, socket)} fails (code 11)`, 'start Open vSwitch (systemctl start openvswitch-switch), or set "ovsdbSocket" to the database\'s socket'));
      continue;
    }
    findings.push(ok(CHECK, `ovsdb-server ${socket}`, 'answers'));
    findings.push(vswitchdFinding(socket, db));
    for (const mirror of db.mirrors) {
      findings.push(mirror.alive
        ? ok(CHECK, `mirror ${mirror.name}`, `pod ${mirror.pod} mirrored to ${mirror.output} by bridgeway-agent mirror (pid ${mirror.pid})`)
        : warn(CHECK, `mirror ${mirror.name}`, `pod ${mirror.pod} is still mirrored to ${mirror.output}, and the bridgeway-agent mirror process that made it${mirror.pid ? ` (pid ${mirror.pid})` : ''} is gone: every frame of the pod is copied for nobody`, `bridgeway-agent mirror ${mirror.pod} --stop`));
    }
  }
  for (const network of ovs.networks) {
    const db = ovs.dbs[network.socket];
    if (!db || 'error' in db) continue;
    findings.push(...checkNetwork(network, db, links));
  }
  const inOvs = new Set(Object.values(ovs.dbs).flatMap((db) => ('error' in db ? [] : db.allPorts)));
  const answered = Object.values(ovs.dbs).every((db) => !('error' in db));
  for (const veth of ovs.unattachedVeths) {
    if (!answered || inOvs.has(veth)) continue;
    findings.push(fail(CHECK, `host veth ${veth}`, 'a bridgeway host veth that is a port of no Linux bridge and of no Open vSwitch bridge: its pod reaches nothing (a port removed behind the plugin\'s back, or an interrupted ADD)', 'delete the pod (its DEL removes the veth; the new pod gets a port), or ip link del ' + veth + ' if no pod uses it'));
  }
  return findings;
}

function networksOf(networks: OvsNetworkFacts[], socket: string): string {
  return networks.filter((n) => n.socket === socket).map((n) => `network ${n.network}`).join(', ');
}

function vswitchdFinding(socket: string, db: OvsDbFacts): Finding {
  const behind = db.curCfg < db.nextCfg;
  if (db.vswitchd !== undefined) {
    return behind
      ? warn(CHECK, `ovs-vswitchd ${socket}`, `running (${db.vswitchd}) but behind the database (cur_cfg ${db.curCfg} < next_cfg ${db.nextCfg}): a change is not applied yet`, 'look at ovs-vswitchd\'s log (ovs-appctl vlog/list, /var/log/openvswitch/ovs-vswitchd.log)')
      : ok(CHECK, `ovs-vswitchd ${socket}`, `running (${db.vswitchd}), the database's changes applied`);
  }
  return behind
    ? fail(CHECK, `ovs-vswitchd ${socket}`, `not running: no ovs-vswitchd process serves this database, and its last change is not applied (cur_cfg ${db.curCfg} < next_cfg ${db.nextCfg}); every ADD fails after waiting for it`, 'start ovs-vswitchd (systemctl start openvswitch-switch)')
    : warn(CHECK, `ovs-vswitchd ${socket}`, 'no ovs-vswitchd process visible for this database, nor a control socket of one answering beside it; the database\'s changes are applied', 'if ADDs time out waiting for ovs-vswitchd, start it (systemctl start openvswitch-switch)');
}

function checkNetwork(network: OvsNetworkFacts, db: OvsDbFacts, links: Set<string>): Finding[] {
  const object = `Open vSwitch network ${network.network}`;
  const bridge = db.bridges.find((b) => b.name === network.bridge);
  if (!bridge) return [ok(CHECK, `${object} bridge ${network.bridge}`, 'not in the database yet: the first ADD makes it')];
  const findings: Finding[] = [
    bridge.datapath === 'netdev'
      ? ok(CHECK, `${object} bridge ${network.bridge}`, 'datapath netdev: the userspace datapath (no openvswitch kernel module needed; pod-to-pod throughput is a fraction of the kernel\'s, and the plugin turns TX checksum offload off in the pods)')
      : ok(CHECK, `${object} bridge ${network.bridge}`, `datapath ${bridge.datapath}`),
  ];
  const ports = db.ports.filter((p) => p.ids[OVS_IDS.network] === network.network);
  for (const port of ports) {
    const pod = port.ids[OVS_IDS.podNamespace] !== undefined ? `${port.ids[OVS_IDS.podNamespace]}/${port.ids[OVS_IDS.podName] ?? '?'}` : `container ${port.ids[OVS_IDS.containerId] ?? '?'}`;
    if (!links.has(port.name)) {
      findings.push(fail(CHECK, `${object} port ${port.name}`, `pod ${pod}'s port is in the database but its veth is not in the kernel: the pod is cut off (its veth deleted behind the plugin's back)`, `delete the pod (DEL removes the port), or ovs-vsctl del-port ${network.bridge} ${port.name} if it is gone`));
    }
    const wanted = wantedVlan(network, port.ids[OVS_IDS.podNamespace]);
    if (wanted === undefined) continue;
    const actual = port.tag !== undefined ? `VLAN ${port.tag}` : port.trunks.length ? `trunk ${port.trunks.join(',')}` : 'no VLAN';
    if (wanted !== actual) {
      findings.push(fail(CHECK, `${object} port ${port.name}`, `pod ${pod} is on ${actual}, and its namespace's is ${wanted} now (the config changed after the pod started, or the port was changed by hand): it reaches the wrong pods`, `recreate the pod (its new port gets ${wanted}), or ovs-vsctl set Port ${port.name} ${wanted.startsWith('VLAN ') ? `tag=${wanted.slice(5)}` : 'tag=[]'}`));
    }
  }
  findings.push(ok(CHECK, `${object} ports`, `${ports.length} pod port(s) on ${network.bridge}`));
  return findings;
}

/** The VLAN the network gives a pod of this namespace (as the plugin's cni/ovs/vlan.ts); undefined: no judgement. */
function wantedVlan(network: OvsNetworkFacts, namespace: string | undefined): string | undefined {
  if (network.vlan !== undefined) return `VLAN ${network.vlan}`;
  if (network.trunk) return `trunk ${network.trunk.join(',')}`;
  if (!network.vlanByNamespace) return 'no VLAN';
  const tag = namespace !== undefined ? network.vlanByNamespace[namespace] : undefined;
  if (tag !== undefined) return `VLAN ${tag}`;
  return network.defaultVlan !== undefined ? `VLAN ${network.defaultVlan}` : undefined;
}
