// The ovs-steering step against a fake switch (a FakeSwitch holding flows by cookie): what it
// sends, that a second sync sends nothing, the bridge appearing later, send_redirects, a refusal,
// and a Linux-bridge node clearing our flows from a leftover OVS bridge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCidr } from '../../../../lib/cidr.ts';
import type { OpenFlowClient } from '../../../../lib/openflow/client.ts';
import { OFPP, OpenFlowErrorReply, type FlowMod } from '../../../../lib/openflow/protocol.ts';
import { mgmtSocket, SteeringSync, uninstallSteering } from '../../../../daemonset/ovs/steering-step.ts';
import { STEERING_COOKIE_MASK } from '../../../../daemonset/ovs/steering.ts';
import type { NodeSync } from '../../../../daemonset/loop/sync.ts';
import { recordingLogger } from '../../../fixtures/agent-node.ts';

const MAC = '52:c5:9b:97:0c:4b';

class FakeSwitch {
  flows = new Map<bigint, FlowMod>();
  sent: FlowMod[][] = [];
  refuse = false;
  down = false;
  connects = 0;
  closes = 0;
  /** Ends every open connection as a stopping ovs-vswitchd does. */
  private readonly ends: ((why: Error) => void)[] = [];
  restart(): void {
    this.flows.clear();
    for (const end of this.ends.splice(0)) end(new Error('closed the connection'));
  }
  client(): OpenFlowClient {
    if (this.down) throw new Error('cannot be reached: connect ECONNREFUSED');
    this.connects++;
    let end!: (why: Error) => void;
    const closed = new Promise<Error>((resolve) => (end = resolve));
    this.ends.push(end);
    return {
      closed,
      portDescs: async () => [{ portNo: 1, mac: '02:00:00:00:00:01', name: 'bw1' }, { portNo: OFPP.LOCAL, mac: MAC, name: 'cni0' }],
      flowCookies: async (cookie, mask) => [...this.flows.keys()].filter((c) => (c & mask) === (cookie & mask)).map((c) => ({ cookie: c, priority: 0, table: 0 })),
      flowMods: async (mods) => {
        if (this.refuse) throw new OpenFlowErrorReply(4, 9, 'FLOW_MOD add');
        this.sent.push([...mods]);
        for (const m of mods) {
          if (m.command === 'add') this.flows.set(m.cookie, m);
          else for (const c of [...this.flows.keys()]) if ((c & m.cookieMask!) === (m.cookie & m.cookieMask!)) this.flows.delete(c);
        }
      },
      close: () => {
        this.closes++;
        end(new Error('was closed'));
      },
    };
  }
}

function setup(options: { enabled?: boolean; bridgeThere?: boolean } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steering-'));
  const procSys = path.join(dir, 'sys');
  for (const dev of ['all', 'cni0']) {
    fs.mkdirSync(path.join(procSys, 'net/ipv4/conf', dev), { recursive: true });
    fs.writeFileSync(path.join(procSys, 'net/ipv4/conf', dev, 'send_redirects'), '1\n');
  }
  const ovsdbSocket = path.join(dir, 'db.sock');
  const socket = mgmtSocket(ovsdbSocket, 'cni0');
  if (options.bridgeThere !== false) fs.writeFileSync(socket, '');
  const sw = new FakeSwitch();
  const log = recordingLogger();
  // A database whose bridge has no guarded port: the guard sync adds the pipeline flows only.
  const openOvsdb = async () => ({ transact: async () => [{ rows: [] }, { rows: [] }, { rows: [] }], close: () => {} });
  const step = new SteeringSync({ log, ovsdbSocket, bridge: 'cni0', procSys, connect: async () => sw.client(), openOvsdb, ...(options.enabled === false && { enabled: false }) });
  const sync = { podCIDRs: [parseCidr('10.244.1.0/24')!, parseCidr('fd00:10:244:1::/64')!] } as unknown as NodeSync;
  return { dir, procSys, socket, sw, log, step, sync, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

test('the flows added once, nothing sent on the next sync; redirects off; in place', async () => {
  const s = setup();
  try {
    assert.equal(s.step.notSteered(), 'the flows that steer it through the node are not installed yet');
    await s.step.run(s.sync);
    assert.equal(s.sw.sent.length, 2, 'the pipeline (table 0 goto 1, table 1 NORMAL), then the steering');
    assert.equal(s.sw.sent[0]!.length, 2);
    assert.equal(s.sw.flows.size, 7);
    assert.equal(s.step.notSteered(), undefined);
    assert.equal(s.step.describe(), 'same-node pod traffic steered through the node (5 OpenFlow flows on cni0)');
    await s.step.run(s.sync);
    assert.equal(s.sw.sent.length, 2, 'a sync with nothing to change sends no FLOW_MOD');
    for (const dev of ['all', 'cni0']) assert.equal(fs.readFileSync(path.join(s.procSys, 'net/ipv4/conf', dev, 'send_redirects'), 'utf8'), '0');
    // A new podCIDR: the new flow added, the old one deleted by its exact cookie.
    await s.step.run({ podCIDRs: [parseCidr('10.244.9.0/24')!] } as unknown as NodeSync);
    assert.equal(s.sw.flows.size, 4);
    assert.deepEqual(s.sw.sent.at(-1)!.every((m) => m.command === 'delete' && m.cookieMask === 0xffffffffffffffffn), true);
    assert.equal(await uninstallSteering(path.join(s.dir, 'db.sock'), 'cni0', async () => s.sw.client()), 'removed the same-node steering, anti-spoofing and pipeline flows of bridge cni0');
    assert.equal(s.sw.flows.size, 0);
  } finally {
    s.cleanup();
  }
});

test('no bridge yet: nothing to steer (not a failure), and the flows follow the bridge without waiting for a sync', async () => {
  const s = setup({ bridgeThere: false });
  try {
    await s.step.run(s.sync);
    assert.equal(s.sw.connects, 0);
    assert.equal(s.step.notSteered(), undefined);
    assert.match(s.step.describe()!, /no Open vSwitch bridge cni0 yet/);
    fs.writeFileSync(s.socket, '');
    const deadline = Date.now() + 3000;
    while (s.sw.flows.size < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.sw.flows.size, 7);
    assert.equal(s.step.notSteered(), undefined);
  } finally {
    s.step.stop();
    s.cleanup();
  }
});

test('a switch that refuses: the step fails with why, and readiness says so', async () => {
  const s = setup();
  try {
    s.sw.refuse = true;
    await assert.rejects(s.step.run(s.sync), /same-node steering on the Open vSwitch bridge cni0: the switch refused FLOW_MOD add: OpenFlow error type 4 code 9/);
    assert.match(s.step.notSteered()!, /could not be installed: the switch refused/);
  } finally {
    s.cleanup();
  }
});

test('a Linux-bridge node: our flows removed from a leftover OVS bridge once; no socket, no OVS touched', async () => {
  const s = setup({ enabled: false });
  try {
    s.sw.flows.set(0x6272777912345678n, { command: 'add', cookie: 0x6272777912345678n });
    s.sw.flows.set(0x1n, { command: 'add', cookie: 0x1n });
    await s.step.run(s.sync);
    await s.step.run(s.sync);
    assert.deepEqual([...s.sw.flows.keys()], [0x1n], 'only ours');
    assert.equal(s.sw.connects, 1);
    assert.equal(s.sw.sent[0]![0]!.cookieMask, STEERING_COOKIE_MASK);
    assert.equal(s.step.notSteered(), undefined);
    assert.equal(s.step.describe(), undefined);
    const none = setup({ enabled: false, bridgeThere: false });
    await none.step.run(none.sync);
    assert.equal(none.sw.connects, 0);
    none.cleanup();
  } finally {
    s.cleanup();
  }
});

test('ovs-vswitchd restarts: the held connection ends, the flows go back as soon as it answers, not at the next sync', async () => {
  const s = setup();
  try {
    await s.step.run(s.sync);
    await s.step.run(s.sync);
    assert.equal(s.sw.connects, 1, 'one connection, held between syncs');
    s.sw.down = true;
    s.sw.restart();
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(s.sw.flows.size, 0);
    assert.match(s.step.notSteered()!, /could not be installed: cannot be reached/, 'readiness says why while it is down');
    assert.equal(s.log.lines.filter((l) => /cannot be reached/.test(l.msg)).length, 1, 'a vswitchd that stays down is logged once');
    s.sw.down = false;
    const deadline = Date.now() + 3000;
    while (s.sw.flows.size < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.sw.flows.size, 7, 'back without a sync (the steering and the pipeline)');
    assert.equal(s.step.notSteered(), undefined);
    assert.match(JSON.stringify(s.log.lines), /lost the OpenFlow connection to the Open vSwitch bridge/);
    s.step.stop();
    assert.equal(s.sw.closes, 1, 'stop closes the held connection');
  } finally {
    s.step.stop();
    s.cleanup();
  }
});
