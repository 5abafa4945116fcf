// Whether NetworkManager manages a link, without running nmcli: NetworkManager writes each
// device's state to <run dir>/devices/<ifindex> (a keyfile, `[device]` group, `managed=true|false`;
// nm-config.c, NM_CONFIG_DEVICE_STATE_DIR) while it runs. A NIC it manages must not be moved
// under it: it would put the addresses back on the NIC (or take the NIC out of the bridge) at its
// next DHCP renewal or reconnect. The run dir is a parameter so tests can stand in for it.
import fs from 'node:fs';
import path from 'node:path';

export const NM_RUN_DIR = '/run/NetworkManager';

/** true: managed; false: NetworkManager runs and leaves it alone, or does not run. */
export function networkManagerManages(ifindex: number, runDir = NM_RUN_DIR): boolean {
  let text: string;
  try {
    text = fs.readFileSync(path.join(runDir, 'devices', String(ifindex)), 'utf8');
  } catch {
    return false;
  }
  return /^\s*managed\s*=\s*(true|1|yes)\s*$/im.test(text);
}

/** The recipe that makes the same bridged LAN with NetworkManager, which then owns it. */
export function nmcliBridgeRecipe(nic: string, bridge: string): string {
  return (
    `nmcli connection add type bridge ifname ${bridge} con-name ${bridge} bridge.stp no bridge.forward-delay 0 ipv4.method auto ipv6.method auto && ` +
    `nmcli connection add type bridge-slave ifname ${nic} master ${bridge} && nmcli connection up ${bridge}` +
    ` (copy the NIC's static addresses into the ${bridge} connection if it has no DHCP), then remove "uplink" from the network config: ` +
    `bridgeway attaches pods to ${bridge} as to any bridge`
  );
}
