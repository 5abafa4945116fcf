import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger, silentLogger } from '../../../lib/log.ts';

function withLogFile(body: (file: string, lines: () => Record<string, any>[]) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-log-'));
  const file = path.join(dir, 'sub', 'plugin.log');
  try {
    body(file, () => fs.readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('lines are pino-shaped JSON: level number, ISO time, pid, bindings, fields, msg, in that order', () =>
  withLogFile((file, lines) => {
    const log = createLogger({ level: 'info', file, base: { network: 'net1' } });
    log.child({ cmd: 'ADD', containerId: undefined }).info({ ip: '10.0.0.2' }, 'pod attached');
    log.warn('plain message');
    const [first, second] = lines();
    assert.deepEqual(Object.keys(first!), ['level', 'time', 'pid', 'network', 'cmd', 'ip', 'msg']);
    assert.deepEqual({ ...first, time: undefined }, { level: 30, time: undefined, pid: process.pid, network: 'net1', cmd: 'ADD', ip: '10.0.0.2', msg: 'pod attached' });
    assert.equal(new Date(first!.time).toISOString(), first!.time);
    assert.deepEqual({ level: second!.level, msg: second!.msg, network: second!.network, cmd: second!.cmd }, { level: 40, msg: 'plain message', network: 'net1', cmd: undefined });
  }));

test('levels below the configured one are not written; child loggers keep the level', () =>
  withLogFile((file, lines) => {
    const log = createLogger({ level: 'warn', file });
    log.info('no');
    log.debug({ a: 1 }, 'no');
    log.child({ component: 'kube' }).error({ a: 1 }, 'yes');
    log.child({ component: 'kube' }).trace('no');
    assert.deepEqual(lines().map((l) => [l.level, l.msg, l.component]), [[50, 'yes', 'kube']]);
  }));

test('errors are written with their type, message and stack; nested children add their bindings', () =>
  withLogFile((file, lines) => {
    const log = createLogger({ level: 'trace', file }).child({ a: 1 }).child({ b: 2 });
    log.trace({ err: new TypeError('boom') }, 'failed');
    const [line] = lines();
    assert.equal(line!.level, 10);
    assert.deepEqual([line!.a, line!.b, line!.err.type, line!.err.message], [1, 2, 'TypeError', 'boom']);
    assert.match(line!.err.stack, /TypeError: boom/);
  }));

test('silent writes nothing (not even the file)', () =>
  withLogFile((file) => {
    const log = createLogger({ level: 'silent', file });
    assert.equal(log, silentLogger);
    log.error('nothing');
    assert.equal(fs.existsSync(file), false);
  }));
