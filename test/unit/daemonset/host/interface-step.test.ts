// host/interface-step.ts: reading eth1 and the main table in one process, and publishing the
// node's address, against the recording fake runner (test/fixtures/agent-node.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseIp } from '../../../../lib/cidr.ts';
import { AddressPublisher, readNodeInterface } from '../../../../daemonset/host/interface-step.ts';
import { ADDR_JSON_DUAL, IP_BATCH, nodeRunner, recordingLogger, RecordingNodeStatus } from '../../../fixtures/agent-node.ts';
import { ETH1_IPV6_ANNOTATION } from '../../../../lib/names.ts';
import { iproute2Network } from '../../../../daemonset/host/network.ts';


async function host() {
  const run = nodeRunner();
  return { run, view: await readNodeInterface(iproute2Network(run.run), { iface: 'eth1' }) };
}

describe('step: node interface', () => {
  test('one ip process reads addresses and the main table of both families; the read-back is named', async () => {
    const { run, view } = await host();
    assert.deepEqual(run.calls.map((c) => [c.argv.join(' '), c.input]), [[IP_BATCH.join(' '), 'addr show\nroute show table all\n']]);
    assert.equal(view.iface.name, 'eth1');
    assert.equal(view.iface.mtu, 1500);
    assert.deepEqual(view.mainTable.map((r) => r.dst), ['192.168.50.0/24']);
  });

  test('a missing interface is an error that names it and what exists', async () => {
    await assert.rejects(readNodeInterface(iproute2Network(nodeRunner().run), { iface: 'eth9' }), /interface eth9 not found \(have: lo, eth1\)/);
  });

  test('the address is published once, and again only when it changes', async () => {
    const { view } = await host();
    const status = new RecordingNodeStatus();
    const publisher = new AddressPublisher({ log: recordingLogger(), nodeName: 'node-0', nodeStatus: status });
    await publisher.publish(view.iface);
    await publisher.publish(view.iface);
    await publisher.publish({ ...view.iface, addresses: { 4: parseIp('192.168.50.11')! } });
    assert.deepEqual(status.calls, [{ call: 'publishEth1Address', ip: '192.168.50.10' }, { call: 'publishEth1Address', ip: '192.168.50.11' }]);
  });
});

describe('step: node interface, dual-stack', () => {
  test('both addresses are read (link-local ignored) and published, IPv6 under its own annotation', async () => {
    const run = nodeRunner({ addr: ADDR_JSON_DUAL });
    const view = await readNodeInterface(iproute2Network(run.run), { iface: 'eth1', families: [4, 6] });
    assert.deepEqual(view.iface.addresses, { 4: parseIp('192.168.50.10'), 6: parseIp('fd00:50::10') });
    const status = new RecordingNodeStatus();
    await new AddressPublisher({ log: recordingLogger(), nodeName: 'node-0', nodeStatus: status }).publish(view.iface);
    assert.deepEqual(status.calls, [
      { call: 'publishEth1Address', ip: '192.168.50.10' },
      { call: 'publishEth1Address', ip: 'fd00:50::10', annotation: ETH1_IPV6_ANNOTATION },
    ]);
    await assert.rejects(readNodeInterface(iproute2Network(nodeRunner().run), { iface: 'eth1', families: [4, 6] }), /interface eth1 has no global IPv6 address/);
  });
});

