import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OncePerChange } from '../../../../daemonset/loop/once-per-change.ts';

describe('OncePerChange', () => {
  test('acts once per new key; the initial key counts as acted on', () => {
    const said: string[] = [];
    const once = new OncePerChange('');
    for (const key of ['', 'a', 'a', 'b', 'a', 'a', '']) once.whenChanged(key, () => said.push(key));
    assert.deepEqual(said, ['a', 'b', 'a', '']);
    assert.equal(once.last, '');
  });

  test('a failing act is not remembered, so it runs again', async () => {
    const once = new OncePerChange();
    let calls = 0;
    await assert.rejects(once.whenChangedAsync('x', async () => {
      calls++;
      throw new Error('API down');
    }));
    await once.whenChangedAsync('x', async () => {
      calls++;
    });
    await once.whenChangedAsync('x', async () => {
      calls++;
    });
    assert.equal(calls, 2);
    assert.equal(once.last, 'x');
    assert.throws(() => once.whenChanged('y', () => {
      throw new Error('no');
    }));
    assert.equal(once.last, 'x');
  });
});
