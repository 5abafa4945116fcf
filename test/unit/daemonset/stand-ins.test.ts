// The stand-ins scripts/build.ts swaps into the agent's bundle for parts of client-node it never
// runs: what the agent does reach works, and anything else fails loudly instead of misbehaving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectSerializer } from '../../../daemonset/stand-ins/object-serializer.ts';
import { Agent, fetch, ProxyAgent } from '../../../daemonset/stand-ins/undici.ts';

test('ObjectSerializer passes strings through (ListWatch\'s label and field selectors) and refuses model types', () => {
  assert.equal(ObjectSerializer.serialize('kubernetes.io/os=linux', 'string'), 'kubernetes.io/os=linux');
  assert.equal(ObjectSerializer.deserialize('x', 'string'), 'x');
  assert.throws(() => ObjectSerializer.serialize({}, 'V1Node'), /ObjectSerializer.serialize\(V1Node\) is not in bridgeway-agent/);
  assert.throws(() => ObjectSerializer.deserialize({}, 'V1NodeList'), /ObjectSerializer.deserialize\(V1NodeList\) is not in bridgeway-agent/);
});

test('undici\'s fetch, Agent and ProxyAgent throw, naming the transport the agent uses instead', () => {
  assert.throws(() => fetch(), /undici.fetch is not in bridgeway-agent: .*daemonset\/kube\/http.ts/);
  assert.throws(() => new Agent(), /undici.Agent is not in bridgeway-agent/);
  assert.throws(() => new ProxyAgent(), /undici.ProxyAgent is not in bridgeway-agent/);
});
