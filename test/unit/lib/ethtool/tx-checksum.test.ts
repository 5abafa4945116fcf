// lib/ethtool/tx-checksum.ts: the structs SIOCETHTOOL takes (include/uapi/linux/ethtool.h, if.h).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EthtoolError, ethtoolValue, ifreq } from '../../../../lib/ethtool/tx-checksum.ts';

describe('SIOCETHTOOL structs', () => {
  test('ethtool_value: cmd then data, host order (x86-64: little-endian)', () => {
    assert.deepEqual([...ethtoolValue(0x17, 0)], [0x17, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...ethtoolValue(0x17, 1)], [0x17, 0, 0, 0, 1, 0, 0, 0]);
  });

  test('ifreq: the NUL-padded name in 16 bytes, then the pointer', () => {
    const req = ifreq('eth0', 0x1122334455667788n);
    assert.equal(req.length, 40);
    assert.deepEqual([...req.subarray(0, 5)], [0x65, 0x74, 0x68, 0x30, 0]);
    assert.equal(new DataView(req.buffer).getBigUint64(16, true), 0x1122334455667788n);
    assert.throws(() => ifreq('a-very-long-name', 0n), EthtoolError);
  });
});
