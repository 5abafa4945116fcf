// When the agent re-executes itself to run JavaScriptCore with its memory options (bin/jsc-options.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_JSC_OPTIONS, jscReexecEnv } from '../../../bin/jsc-options.ts';

test('on Bun, the first start re-executes with the options added to the environment it had', () => {
  assert.deepEqual(jscReexecEnv({ PATH: '/usr/bin', KUBERNETES_SERVICE_HOST: '10.96.0.1', UNSET: undefined }, true), {
    PATH: '/usr/bin', KUBERNETES_SERVICE_HOST: '10.96.0.1', BUN_JSC_useDFGJIT: 'false', BUN_JSC_useFTLJIT: 'false',
  });
});

test('no re-exec once the options are set: after the re-exec (no loop), or off Bun', () => {
  const after = jscReexecEnv({ PATH: '/usr/bin' }, true)!;
  assert.equal(jscReexecEnv(after, true), undefined);
  assert.equal(jscReexecEnv({ PATH: '/usr/bin' }, false), undefined);
});

test('an option an admin set wins: only the missing ones are added', () => {
  assert.deepEqual(jscReexecEnv({ BUN_JSC_useDFGJIT: 'true' }, true), { BUN_JSC_useDFGJIT: 'true', BUN_JSC_useFTLJIT: 'false' });
  assert.equal(jscReexecEnv({ ...AGENT_JSC_OPTIONS, BUN_JSC_useDFGJIT: 'true' }, true), undefined);
});
