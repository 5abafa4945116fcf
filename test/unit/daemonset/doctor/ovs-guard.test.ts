// The doctor's judgement of the pods' anti-spoofing flows on an Open vSwitch bridge
// (daemonset/doctor/checks/ovs-guard.ts): in place, one missing, none, a gone port's leftovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../../../../lib/cidr.ts';
import { guardCookie, pipelineFlows, planPortGuard, type PresentFlow } from '../../../../lib/openflow/port-guard.ts';
import { checkOvsGuards } from '../../../../daemonset/doctor/checks/ovs-guard.ts';

const port = { name: 'bw1', cookie: guardCookie('n', 'c1', 'eth0'), ofport: 5, mac: '0a:58:0a:01:00:05', addresses: [parseIp('10.1.0.5')!] };
const present = (mods: { cookie: bigint; table?: number; priority?: number }[]): PresentFlow[] => mods.map((m) => ({ cookie: m.cookie, table: m.table ?? 0, priority: m.priority ?? 0 }));
const all = present([...pipelineFlows(), ...planPortGuard(port)].map((f) => f.add));
const judge = (flows: PresentFlow[]) => checkOvsGuards({ socket: '/run/openvswitch/cni0.mgmt', cookies: [], guards: { ports: [port], present: flows } }, 'cni0');
const summary = (flows: PresentFlow[]) => judge(flows).map((f) => `${f.severity} ${f.object}: ${f.detail}`);

test('in place: OK; one flow missing, or all: FAIL naming the port; a gone port\'s guard: WARN', () => {
  assert.deepEqual(summary(all), ['OK anti-spoofing flows on cni0: in place for 1 guarded port']);
  const [one] = summary(all.filter((f) => f.priority !== 49000));
  assert.match(one!, /^FAIL port bw1 \(ofport 5, 10\.1\.0\.5\): lacks 1 anti-spoofing flow\(s\) \(table=0,priority=49000,in_port=5 actions=drop\)/);
  const [none] = summary(all.filter((f) => f.cookie !== port.cookie));
  assert.match(none!, /^FAIL port bw1 .*has no anti-spoofing flow: its pod can send as any address or MAC/);
  const gone = guardCookie('n', 'gone', 'eth0');
  const [leftover] = summary([...all, { cookie: gone | 1n, table: 0, priority: 49000 }]);
  assert.match(leftover!, new RegExp(`^WARN anti-spoofing flows on cni0: 1 guard\\(s\\) of ports no longer on the bridge \\(cookies 0x${gone.toString(16)}\\)`));
  assert.match(summary(all.filter((f) => f.table !== 1))[0]!, /^FAIL anti-spoofing flows on cni0: pipeline flows missing/);
});

test('no bridge yet: OK; unreadable: WARN', () => {
  const socket = '/run/openvswitch/cni0.mgmt';
  assert.equal(checkOvsGuards({ socket, error: `the Open vSwitch bridge's OpenFlow socket ${socket} does not exist (no such bridge, or ovs-vswitchd is not running)` }, 'cni0')[0]!.severity, 'OK');
  assert.equal(checkOvsGuards({ socket, cookies: [], guards: { error: 'the database did not answer' } }, 'cni0')[0]!.severity, 'WARN');
});
