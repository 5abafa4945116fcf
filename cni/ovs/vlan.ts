// Pure: the VLAN settings of a pod's port from the config and the pod's namespace
// (K8S_POD_NAMESPACE in CNI_ARGS, which kubelet's runtime passes). The Port row's columns:
// `tag` makes an access port (untagged frames from the pod enter that VLAN, and only its frames
// leave to the pod), `trunks` a trunk (the pod sends and gets 802.1Q-tagged frames of these
// VLANs); neither: OVS's default, a trunk of every VLAN, which is what a network without VLAN
// keys had before on the Linux bridge (one flat segment).
import { CniError, ErrorCode } from '../errors.ts';
import type { OvsConf } from './config.ts';

export interface PortVlan {
  tag?: number;
  trunks?: number[];
}

export function portVlan(ovs: OvsConf, podNamespace: string | undefined): PortVlan {
  if (ovs.vlan !== undefined) return { tag: ovs.vlan };
  if (ovs.trunks) return { trunks: ovs.trunks };
  if (!ovs.vlanByNamespace) return {};
  const named = podNamespace !== undefined ? ovs.vlanByNamespace[podNamespace] : undefined;
  if (named !== undefined) return { tag: named };
  if (ovs.defaultVlan !== undefined) return { tag: ovs.defaultVlan };
  throw new CniError(
    ErrorCode.InvalidNetworkConfig,
    podNamespace === undefined
      ? 'this network gives each namespace its VLAN ("vlanByNamespace"), and CNI_ARGS has no K8S_POD_NAMESPACE; set "defaultVlan" for pods without one'
      : `namespace ${JSON.stringify(podNamespace)} has no VLAN in "vlanByNamespace" and the network has no "defaultVlan": add the namespace or a "defaultVlan"`,
  );
}
