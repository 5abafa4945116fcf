// The doctor's Open vSwitch findings, one fault at a time against a healthy node.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkOvs } from '../../../../../daemonset/doctor/checks/ovs.ts';
import type { DoctorFacts, OvsDbFacts, OvsNetworkFacts } from '../../../../../daemonset/doctor/facts.ts';

const SOCKET = '/run/openvswitch/db.sock';
const link = (name: string) => ({ name, mtu: 1500, up: true, ipv4: [], ipv6: [] });
const network = (extra: Partial<OvsNetworkFacts> = {}): OvsNetworkFacts => ({ path: '/etc/cni/net.d/20-ovs.conflist', network: 'vms', bridge: 'br-vm', socket: SOCKET, vlanByNamespace: { blue: 10 }, ...extra });
const ids = (ns: string, pod: string) => ({ 'bridgeway-network': 'vms', 'bridgeway-container-id': pod, 'bridgeway-ifname': 'eth0', 'k8s-pod-namespace': ns, 'k8s-pod-name': pod });
const db = (extra: Partial<OvsDbFacts> = {}): OvsDbFacts => ({
  curCfg: 5, nextCfg: 5, vswitchd: 'pid 42',
  bridges: [{ name: 'br-vm', datapath: 'netdev', ports: ['br-vm', 'bwaaaaaaaaaaaa'] }],
  ports: [{ name: 'bwaaaaaaaaaaaa', ids: ids('blue', 'a'), tag: 10, trunks: [] }],
  allPorts: ['br-vm', 'bwaaaaaaaaaaaa'],
  mirrors: [],
  ...extra,
});
const facts = (d: OvsDbFacts | { error: string } = db(), extra: { networks?: OvsNetworkFacts[]; unattachedVeths?: string[]; links?: string[] } = {}) =>
  ({ ovs: { networks: extra.networks ?? [network()], dbs: { [SOCKET]: d }, unattachedVeths: extra.unattachedVeths ?? [] }, links: (extra.links ?? ['lo', 'br-vm', 'bwaaaaaaaaaaaa']).map(link) }) as unknown as DoctorFacts;
const bad = (findings: ReturnType<typeof checkOvs>) => findings.filter((f) => f.severity !== 'OK').map((f) => `${f.severity} ${f.object}`);

describe('doctor: Open vSwitch networks', () => {
  test('healthy: the database answers, vswitchd runs, the datapath named, no other finding', () => {
    const findings = checkOvs(facts());
    assert.deepEqual(bad(findings), []);
    assert.ok(findings.some((f) => /datapath netdev: the userspace datapath/.test(f.detail)));
    assert.deepEqual(checkOvs({ links: [] } as unknown as DoctorFacts), [], 'no OVS network: nothing to say');
  });

  test('the database down; vswitchd not running (and behind), or only not visible', () => {
    assert.deepEqual(bad(checkOvs(facts({ error: 'refuses connections' }))), [`FAIL ovsdb-server ${SOCKET}`]);
    assert.deepEqual(bad(checkOvs(facts(db({ vswitchd: undefined, nextCfg: 6 })))), [`FAIL ovs-vswitchd ${SOCKET}`]);
    assert.deepEqual(bad(checkOvs(facts(db({ vswitchd: undefined })))), [`WARN ovs-vswitchd ${SOCKET}`]);
  });

  test('a port without its veth, a veth of no bridge (but not one OVS holds)', () => {
    assert.deepEqual(bad(checkOvs(facts(db(), { links: ['lo', 'br-vm'] }))), ['FAIL Open vSwitch network vms port bwaaaaaaaaaaaa']);
    assert.deepEqual(bad(checkOvs(facts(db(), { unattachedVeths: ['bwaaaaaaaaaaaa', 'bwbbbbbbbbbbbb'] }))), ['FAIL host veth bwbbbbbbbbbbbb']);
  });

  test('a pod whose VLAN is not its namespace\'s; an unknown namespace without defaultVlan is not judged', () => {
    const moved = checkOvs(facts(db({ ports: [{ name: 'bwaaaaaaaaaaaa', ids: ids('blue', 'a'), tag: 20, trunks: [] }] })));
    assert.deepEqual(bad(moved), ['FAIL Open vSwitch network vms port bwaaaaaaaaaaaa']);
    assert.match(moved.find((f) => f.severity === 'FAIL')!.detail, /pod blue\/a is on VLAN 20, and its namespace's is VLAN 10/);
    assert.deepEqual(bad(checkOvs(facts(db({ ports: [{ name: 'bwaaaaaaaaaaaa', ids: ids('green', 'a'), tag: 20, trunks: [] }] })))), []);
    assert.deepEqual(bad(checkOvs(facts(db({ ports: [{ name: 'bwaaaaaaaaaaaa', ids: ids('green', 'a'), tag: 20, trunks: [] }] }), { networks: [network({ defaultVlan: 30 })] }))), ['FAIL Open vSwitch network vms port bwaaaaaaaaaaaa']);
  });

  test('a mirror whose process is gone is left behind; a held one is OK', () => {
    const mirror = { name: 'bridgeway-blue/a', pod: 'blue/a', output: 'bwm-0123456789', pid: 7 };
    assert.deepEqual(bad(checkOvs(facts(db({ mirrors: [{ ...mirror, alive: true }] })))), []);
    const left = checkOvs(facts(db({ mirrors: [{ ...mirror, alive: false }] })));
    assert.deepEqual(bad(left), ['WARN mirror bridgeway-blue/a']);
    assert.equal(left.find((f) => f.severity === 'WARN')!.fix, 'bridgeway-agent mirror blue/a --stop');
  });
});
