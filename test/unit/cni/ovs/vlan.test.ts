// cni/ovs/vlan.ts: the port's VLAN from the config and the pod's namespace.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../../../../cni/errors.ts';
import { portVlan } from '../../../../cni/ovs/vlan.ts';

const base = { socket: '/s', datapath: 'netdev' };

describe('portVlan', () => {
  test('access, trunk, none', () => {
    assert.deepEqual(portVlan({ ...base, vlan: 7 }, 'any'), { tag: 7 });
    assert.deepEqual(portVlan({ ...base, trunks: [1, 2] }, undefined), { trunks: [1, 2] });
    assert.deepEqual(portVlan(base, 'any'), {});
  });

  test('by namespace, with and without a default', () => {
    const byNs = { ...base, vlanByNamespace: { blue: 10, red: 20 } };
    assert.deepEqual(portVlan(byNs, 'red'), { tag: 20 });
    assert.deepEqual(portVlan({ ...byNs, defaultVlan: 99 }, 'green'), { tag: 99 });
    assert.deepEqual(portVlan({ ...byNs, defaultVlan: 99 }, undefined), { tag: 99 });
    assert.throws(() => portVlan(byNs, 'green'), (e: unknown) => e instanceof CniError && e.code === 7 && /"green" has no VLAN/.test(e.message));
    assert.throws(() => portVlan(byNs, undefined), (e: unknown) => e instanceof CniError && /no K8S_POD_NAMESPACE/.test(e.message));
  });
});
