import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sha256Hex } from '../../../lib/sha256.ts';

test('sha256Hex matches node:crypto: the FIPS examples, every length around the block edges, non-ASCII', () => {
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const inputs = ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 'ünïcødé/eth0', '☃'.repeat(50)];
  for (let length = 0; length <= 200; length++) inputs.push('x'.repeat(length), `c${length}/eth0`.padEnd(length, 'k'));
  for (const input of inputs) assert.equal(sha256Hex(input), createHash('sha256').update(input).digest('hex'), JSON.stringify(input));
});
