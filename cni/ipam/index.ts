// Where a pod's address comes from: the built-in allocator (default: no second process on the
// hot path) or an IPAM plugin named by ipam.type, executed through CNI_PATH as the spec says.
// Both behind one IpamBackend (backend.ts), so the commands never ask which.
import type { Runner } from '../../lib/exec.ts';
import type { StoreOf } from '../../ipam/index.ts';
import type { NetConf } from '../config/netconf.ts';
import type { CmdArgs } from '../skel.ts';
import type { IpamBackend } from './backend.ts';
import { builtinIpam } from './builtin.ts';
import { delegatedIpam } from './delegated.ts';

export type { IpamBackend, Released } from './backend.ts';

export function ipamFor(conf: NetConf, args: CmdArgs, deps: { run: Runner; store: StoreOf }): IpamBackend {
  const attachment = { containerId: args.containerId, ifname: args.ifname };
  return conf.ipam.kind === 'builtin'
    ? builtinIpam(conf, conf.ipam, attachment, deps.store)
    : delegatedIpam(conf, conf.ipam, args, deps.run);
}
