// The doctor's reads for the bridged LAN (lib/uplink/): each bridge marked as holding an uplink
// NIC, with its STP state and forward delay, the NIC as it is now, and whether NetworkManager
// manages it. One `ip -j -d addr show` (links with details and addresses) when no bridge is
// marked; no routes are needed. Writes nothing.
import { errorMessage } from '../../lib/errors.ts';
import type { Runner } from '../../lib/exec.ts';
import { networkManagerManages, NM_RUN_DIR } from '../../lib/uplink/network-manager.ts';
import { uplinkOf } from '../../lib/uplink/plan.ts';
import type { UplinkFacts } from './facts.ts';

interface IpBridgeJson {
  ifname: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { stp_state?: number; forward_delay?: number } };
}

export async function gatherUplinks(run: Runner, nmRunDir = NM_RUN_DIR): Promise<UplinkFacts> {
  try {
    const links = JSON.parse((await run(['ip', '-j', '-d', 'addr', 'show'])).stdout || '[]') as (IpBridgeJson & { ifindex: number; master?: string; addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[] })[];
    const bridges = links.filter((l) => l.linkinfo?.info_kind === 'bridge' && uplinkOf({ ...(l.ifalias ? { alias: l.ifalias } : {}) }) !== undefined);
    return {
      bridges: bridges.map((b) => {
        const nicName = uplinkOf({ alias: b.ifalias! })!;
        const nic = links.find((l) => l.ifname === nicName);
        return {
          bridge: b.ifname,
          nic: nicName,
          stp: (b.linkinfo?.info_data?.stp_state ?? 0) !== 0,
          // ip prints the delay in hundredths of a second (USER_HZ), 1500 for the kernel's default 15 s.
          forwardDelaySeconds: (b.linkinfo?.info_data?.forward_delay ?? 0) / 100,
          ...(nic
            ? {
                nicPresent: true,
                ...(nic.master ? { nicMaster: nic.master } : {}),
                nicAddresses: (nic.addr_info ?? []).filter((a) => (a.family === 'inet' || a.family === 'inet6') && a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
                networkManager: networkManagerManages(nic.ifindex, nmRunDir),
              }
            : { nicPresent: false, nicAddresses: [], networkManager: false }),
        };
      }),
    };
  } catch (error) {
    return { bridges: [], error: errorMessage(error) };
  }
}
