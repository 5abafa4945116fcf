// daemonset/uninstall-daemon.ts: the uninstall DaemonSet's process on a fake clock: it waits while
// the agent holds the health address, uninstalls, retries what failed with backoff, then answers
// /uninstalled with 200 (the pod's readiness) and stays up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UninstallDaemon } from '../../../daemonset/uninstall-daemon.ts';
import type { HttpReply } from '../../../daemonset/serve/health.ts';
import { FakeClock } from '../../fixtures/fake-clock.ts';
import { recordingLogger } from '../../fixtures/agent-node.ts';

function inUse(): Error {
  return Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9099'), { code: 'EADDRINUSE' });
}

function setup(options: { busyFor: number; results: string[][] }) {
  const clock = new FakeClock();
  const log = recordingLogger();
  let route: ((path: string) => HttpReply) | undefined;
  let listens = 0;
  let closed = false;
  const uninstalls: number[] = [];
  const daemon = new UninstallDaemon({
    clock, log, nodeName: 'node-0', address: '127.0.0.1:9099',
    listen: async (r) => {
      listens += 1;
      if (listens <= options.busyFor) throw inUse();
      route = r;
      return { close: () => void (closed = true) };
    },
    uninstall: async () => {
      uninstalls.push(clock.now());
      return options.results.shift() ?? [];
    },
  });
  const get = (path: string) => route?.(path);
  return { clock, log, daemon, get, uninstalls, listens: () => listens, closed: () => closed };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('uninstall --serve', () => {
  test('waits while the agent holds the address, says why once, then uninstalls and answers 200 until stopped', async () => {
    const s = setup({ busyFor: 3, results: [[]] });
    s.daemon.start();
    await settle();
    assert.equal(s.get('/uninstalled'), undefined, 'not serving: the agent has the address');
    assert.deepEqual(s.uninstalls, [], 'nothing removed while the agent runs');
    await s.clock.advance(2000);
    await s.clock.advance(2000);
    const waits = s.log.lines.filter((l) => l.level === 'warn');
    assert.deepEqual(waits.map((l) => l.msg), ['waiting: 127.0.0.1:9099 is in use: the bridgeway agent still runs on this node; delete its DaemonSet first (kubectl -n kube-system delete daemonset bridgeway)'], 'said once');
    assert.deepEqual(s.uninstalls, []);
    await s.clock.advance(2000);
    await settle();
    assert.equal(s.listens(), 4);
    assert.deepEqual(s.uninstalls, [6000], 'once the agent is gone');
    await s.daemon.done;
    assert.deepEqual(s.get('/uninstalled'), { status: 200, body: 'uninstalled: nothing of bridgeway is left on node node-0\n' });
    assert.deepEqual(s.get('/healthz'), { status: 200, body: 'ok\n' });
    assert.equal(s.get('/readyz')!.status, 404, 'not the agent\'s /readyz: its 200 must not make this pod Ready');
    assert.ok(s.log.lines.some((l) => l.level === 'info' && l.msg === 'uninstall finished: nothing of bridgeway is left on node node-0; this pod stays Ready until its DaemonSet is deleted'));
    assert.deepEqual(s.clock.pending(), [], 'done: nothing scheduled, the process stays up on its server alone');
    assert.equal(s.closed(), false);
    s.daemon.stop();
    assert.equal(s.closed(), true);
  });

  test('what fails is retried with backoff (1 s, 2 s, ...) and /uninstalled says what is left meanwhile', async () => {
    const s = setup({ busyFor: 0, results: [['the Node object node-0: reading node node-0: 403 forbidden'], ['the Node object node-0: ECONNREFUSED'], []] });
    s.daemon.start();
    await settle();
    assert.deepEqual(s.uninstalls, [0]);
    const reply = s.get('/uninstalled')!;
    assert.equal(reply.status, 503);
    assert.equal(reply.body, 'not yet: attempt 1 left 1 thing(s), retrying:\nthe Node object node-0: reading node node-0: 403 forbidden\n');
    assert.deepEqual(s.clock.pending(), [1000]);
    await s.clock.advance(1000);
    assert.deepEqual(s.uninstalls, [0, 1000]);
    assert.deepEqual(s.clock.pending(), [2000]);
    await s.clock.advance(2000);
    await s.daemon.done;
    assert.deepEqual(s.uninstalls, [0, 1000, 3000]);
    assert.equal(s.get('/uninstalled')!.status, 200);
    assert.deepEqual(s.log.lines.filter((l) => l.level === 'error').map((l) => l.msg), [
      'uninstall: the Node object node-0: reading node node-0: 403 forbidden',
      'uninstall: the Node object node-0: ECONNREFUSED',
    ]);
  });

  test('stopped (SIGTERM) while waiting for the agent: nothing is removed, nothing left scheduled', async () => {
    const s = setup({ busyFor: 100, results: [] });
    s.daemon.start();
    await settle();
    s.daemon.stop();
    await s.daemon.done;
    assert.deepEqual(s.clock.pending(), []);
    await s.clock.advance(60_000);
    assert.deepEqual(s.uninstalls, []);
  });

  test('another listen error ends it with the reason', async () => {
    const clock = new FakeClock();
    const daemon = new UninstallDaemon({
      clock, log: recordingLogger(), nodeName: 'node-0', address: '10.9.9.9:9099',
      listen: async () => { throw Object.assign(new Error('listen EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' }); },
      uninstall: async () => [],
    });
    daemon.start();
    await assert.rejects(daemon.done, /^Error: cannot listen on 10\.9\.9\.9:9099: listen EADDRNOTAVAIL$/);
  });
});
