// The bridged LAN's known pains, for each bridge that holds an uplink NIC for us (lib/uplink/):
// NetworkManager owning the NIC (it puts the addresses back on the NIC, or takes it out of the
// bridge, at its next reconnect or DHCP renewal); the NIC still holding addresses (a move
// interrupted before its end, or a DHCP client or NetworkManager giving them back: the node then
// answers on two links); STP on, or a forward delay, which keeps every new port (a pod's veth, a
// VM's tap) from forwarding for seconds after it joins (STP off first: with STP on the kernel refuses
// a forward delay below 2 s). A node without an uplink gets no line.
import { nmcliBridgeRecipe } from '../../../lib/uplink/network-manager.ts';
import { fail, ok, warn, type Finding } from '../finding.ts';
import type { CheckContext } from './context.ts';

export function checkUplinks({ facts }: CheckContext): Finding[] {
  const { uplinks } = facts;
  if (uplinks.error) return [warn('uplink', 'uplink bridges', `could not be read: ${uplinks.error}`, 'run `ip -j -d addr show` on the node and look for bridges with the alias bridgeway-uplink:<nic>')];
  return uplinks.bridges.flatMap((u): Finding[] => {
    const object = `${u.nic} on ${u.bridge}`;
    if (!u.nicPresent) return [fail('uplink', object, `${u.nic} no longer exists; ${u.bridge} still holds its addresses`, `bring ${u.nic} back, or remove "uplink" from the network config and move the addresses by hand`)];
    const findings: Finding[] = [];
    if (u.networkManager) findings.push(fail('uplink', object, `NetworkManager manages ${u.nic}: it undoes the move at its next reconnect`, nmcliBridgeRecipe(u.nic, u.bridge)));
    if (u.nicMaster !== u.bridge) {
      findings.push(fail('uplink', object, `${u.nic} is not a port of ${u.bridge}${u.nicMaster ? ` (it is ${u.nicMaster}'s)` : ''}: pods and VMs on ${u.bridge} are cut off the LAN`, `start a pod on the network (its ADD moves ${u.nic} back), or \`ip link set dev ${u.nic} master ${u.bridge}\``));
    }
    if (u.nicAddresses.length) {
      findings.push(warn('uplink', object, `${u.nic} still holds ${u.nicAddresses.join(', ')}: a move that did not finish, or a DHCP client or NetworkManager giving them back; the node answers on two links`, `start a pod on the network (its ADD finishes the move), and make sure no DHCP client runs on ${u.nic} (run it on ${u.bridge})`));
    }
    if (u.stp || u.forwardDelaySeconds > 0) {
      const what = [u.stp ? 'STP is on' : '', u.forwardDelaySeconds > 0 ? `the forward delay is ${u.forwardDelaySeconds} s` : ''].filter(Boolean).join(' and ');
      findings.push(warn('uplink', u.bridge, `${what}: every new port (a pod's veth, a VM's tap) waits before forwarding, so pods start without network`, `ip link set dev ${u.bridge} type bridge stp_state 0 && ip link set dev ${u.bridge} type bridge forward_delay 0`));
    }
    return findings.length ? findings : [ok('uplink', object, `${u.nic} is ${u.bridge}'s port and holds no address; no STP, no forward delay`)];
  });
}
