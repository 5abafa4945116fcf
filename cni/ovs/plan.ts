// Pure: an OVS-bridge attachment's kernel changes, from bridge mode's own plan (cni/plan.ts): the
// same addresses, MACs, veth, pod side and result. What differs is only the port: the bridge
// and the veth's membership of it are rows in the database (ops.ts), so the plan drops the Linux
// bridge's creation, its port attachment and hairpin mode, and brings the host veth up itself
// (attach-port did that). The bridge's gateway addresses go on its internal interface, which
// ovs-vswitchd makes under the bridge's name. No hairpin: a pod's connection to its own Service
// is DNATed by the node's IP stack (br_netfilter never sees OVS's frames) and routed back out
// of the internal interface, so it never has to leave by the port it came in by.
import type { Change } from '../../lib/kernel/change.ts';
import type { NetConf } from '../config/netconf.ts';
import { planAdd, type AddPlan, type AddTarget, type PodAddressing } from '../plan.ts';

export function planOvsAdd(conf: NetConf, target: AddTarget, pod: PodAddressing): AddPlan {
  // With antiSpoofing, bridge mode's plan sets the pod's addr_gen_mode (its link-local address from
  // its MAC, which the guard flows allow); its nftables elements are dropped below: Open vSwitch
  // guards the port with OpenFlow flows (cni/ovs/guard.ts) once the port has its ofport.
  const plan = planAdd(conf, target, pod);
  const hostChanges = plan.hostChanges.flatMap((change): Change[] => {
    if (change.op === 'add-bridge' || change.op === 'set-hairpin' || change.op === 'guard-port') return [];
    if (change.op === 'attach-port') return [{ op: 'set-up', link: change.link }];
    return [change];
  });
  const { guard: _guard, ...rest } = plan;
  return { ...rest, hostChanges };
}
