// cni/ovs/guard.ts against a fake switch and database: ADD's one batch (pipeline, the old guard
// deleted, the port's flows), DEL's delete by cookie, CHECK naming a missing flow, and the switch's
// failures as code 11 naming the management socket.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseIp } from '../../../../lib/cidr.ts';
import { OVS_IDS } from '../../../../lib/names.ts';
import { OpenFlowUnavailableError, type OpenFlowClient } from '../../../../lib/openflow/client.ts';
import { ATTACHMENT_COOKIE_MASK, guardCookie, pipelineFlows, planPortGuard, type PresentFlow } from '../../../../lib/openflow/port-guard.ts';
import { OpenFlowErrorReply, type FlowMod } from '../../../../lib/openflow/protocol.ts';
import { checkGuard, guardIdentity, installGuard, removeGuard } from '../../../../cni/ovs/guard.ts';
import { CniError } from '../../../../cni/errors.ts';
import type { Db } from '../../../../cni/ovs/db.ts';

const addresses = [parseIp('10.1.0.5')!, parseIp('fd00::5')!];
const identity = guardIdentity(addresses);

function fixture() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovs-guard-'));
  const target = { ovsdbSocket: path.join(dir, 'db.sock'), bridge: 'br0', network: 'n', containerId: 'c1', ifname: 'eth0' };
  const socket = path.join(dir, 'br0.mgmt');
  const flows: PresentFlow[] = [];
  const sent: FlowMod[][] = [];
  const sw = { refuse: false };
  const client: OpenFlowClient = {
    portDescs: async () => [],
    flowCookies: async (cookie, mask) => flows.filter((f) => (f.cookie & mask) === (cookie & mask)),
    flowMods: async (mods) => {
      if (sw.refuse) throw new OpenFlowErrorReply(5, 1, 'FLOW_MOD add');
      sent.push([...mods]);
      for (const m of mods) {
        if (m.command === 'add') flows.push({ cookie: m.cookie, table: m.table ?? 0, priority: m.priority ?? 0 });
        else for (let i = flows.length - 1; i >= 0; i--) if ((flows[i]!.cookie & m.cookieMask!) === (m.cookie & m.cookieMask!)) flows.splice(i, 1);
      }
    },
    close: () => {},
    closed: new Promise(() => {}),
  };
  const db = { transact: async () => [{ rows: [{ ofport: 5, error: ['set', []], external_ids: ['map', [[OVS_IDS.attachedMac, identity.mac], [OVS_IDS.antispoofIps, identity.addresses.join(',')]]] }] }], close: () => {} } as unknown as Db;
  return { dir, target, socket, flows, sent, sw, db, connect: async () => client, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

describe('the plugin\'s guard flows (cni/ovs/guard.ts)', () => {
  test('ADD: one batch, the pipeline, the attachment\'s old guard deleted, then the port\'s; DEL deletes it by cookie', async () => {
    const f = fixture();
    try {
      const count = await installGuard(f.target, { ofport: 5, mac: identity.mac, addresses }, f.connect);
      const cookie = guardCookie('n', 'c1', 'eth0');
      const planned = planPortGuard({ cookie, ofport: 5, mac: identity.mac, addresses });
      assert.equal(count, planned.length);
      assert.equal(f.sent.length, 1, 'one batch, one BARRIER');
      assert.deepEqual(f.sent[0], [...pipelineFlows().map((p) => p.add), { command: 'delete', cookie, cookieMask: ATTACHMENT_COOKIE_MASK }, ...planned.map((p) => p.add)]);
      assert.deepEqual(await checkGuard(f.db, f.target, 'bw1', addresses, f.connect), []);

      // CHECK names a flow that went; and the pod's addresses must be the ones the Interface keeps.
      f.flows.splice(f.flows.findIndex((x) => x.priority === 49000), 1);
      assert.match((await checkGuard(f.db, f.target, 'bw1', addresses, f.connect)).join(), /lacks 1 anti-spoofing flow\(s\): table=0,priority=49000,in_port=5 actions=drop/);
      assert.match((await checkGuard(f.db, f.target, 'bw1', [parseIp('10.1.0.6')!], f.connect)).join(), /does not hold the pod's MAC and addresses/);

      assert.equal(await removeGuard(f.target, f.connect), 'no switch', 'no management socket: no ovs-vswitchd, no flows');
      fs.writeFileSync(f.socket, '');
      assert.equal(await removeGuard(f.target, f.connect), 'removed');
      assert.deepEqual(f.flows.filter((x) => (x.cookie & ATTACHMENT_COOKIE_MASK) === cookie), []);
      assert.equal(f.flows.length, 2, 'the pipeline stays');
    } finally {
      f.cleanup();
    }
  });

  test('a switch that is not there or refuses: code 11 naming the socket', async () => {
    const f = fixture();
    try {
      const missing = async (socket: string): Promise<OpenFlowClient> => {
        throw new OpenFlowUnavailableError(socket, 'does not exist (no such bridge, or ovs-vswitchd is not running)');
      };
      await assert.rejects(installGuard(f.target, { ofport: 5, mac: identity.mac, addresses }, missing),
        (e: unknown) => e instanceof CniError && e.code === 11 && e.message.includes(`OpenFlow socket ${f.socket} does not exist`));
      f.sw.refuse = true;
      await assert.rejects(installGuard(f.target, { ofport: 5, mac: identity.mac, addresses }, f.connect),
        (e: unknown) => e instanceof CniError && e.code === 11 && e.message.includes(`OpenFlow socket ${f.socket}: the switch refused FLOW_MOD add`));
    } finally {
      f.cleanup();
    }
  });
});
