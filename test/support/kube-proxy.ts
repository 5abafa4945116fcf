// What kube-proxy (iptables mode) puts on a node for a ClusterIP Service with one endpoint,
// trimmed to what a connection from that endpoint to its own Service meets (a "hairpin"), for
// the plugin's tests, the simulation and the containerd run. pkg/proxy/iptables/proxier.go:
// KUBE-SERVICES is jumped to from PREROUTING and OUTPUT; the endpoint's chain marks a connection
// whose source is the endpoint itself with 0x4000 (KUBE-MARK-MASQ) before its DNAT; and
// KUBE-POSTROUTING masquerades what carries the mark, so the pod's answer to itself comes back
// through the node instead of straight to its own socket. Without br_netfilter a pod's packet to
// the Service goes up to the node's routing, which sends it to the pod like any other; on a
// kube-proxy node (kubeadm's preflight requires bridge-nf-call-iptables=1) the DNAT happens on
// the bridge, which then sends the frame back out of the port it came in by: only a port with
// hairpin mode on lets it (br_nf_pre_routing_finish, br_forward's should_deliver).
import { execIn } from './exec-in.ts';

/** The Service's port, and the endpoint's port it is DNATed to. */
export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;

export interface HairpinService {
  /** Upper-case letters and digits: part of the Service's chain names. */
  name: string;
  /** The ClusterIP. */
  clusterIp: string;
  /** Its one endpoint: the pod's own address. */
  endpoint: string;
}

/** An iptables-restore (`--noflush`) payload of one family's Services; all of them at once, as each call refills the shared chains. */
export function kubeProxyRules(family: 4 | 6, services: readonly HairpinService[]): string {
  const host = family === 4 ? '/32' : '/128';
  const endpoint = (address: string) => (family === 4 ? `${address}:${TARGET_PORT}` : `[${address}]:${TARGET_PORT}`);
  const chains = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', ...services.flatMap((s) => [`KUBE-SVC-${s.name}`, `KUBE-SEP-${s.name}`])];
  return [
    '*nat',
    ...chains.map((chain) => `:${chain} - [0:0]`),
    '-A PREROUTING -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-SERVICES',
    '-A POSTROUTING -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -j MASQUERADE',
    ...services.flatMap((s) => [
      `-A KUBE-SERVICES -d ${s.clusterIp}${host} -p tcp -m tcp --dport ${SERVICE_PORT} -j KUBE-SVC-${s.name}`,
      `-A KUBE-SVC-${s.name} -j KUBE-SEP-${s.name}`,
      `-A KUBE-SEP-${s.name} -s ${s.endpoint}${host} -j KUBE-MARK-MASQ`,
      `-A KUBE-SEP-${s.name} -p tcp -m tcp -j DNAT --to-destination ${endpoint(s.endpoint)}`,
    ]),
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Makes the node at `netnsPath` a kube-proxy node for `services` (each family's in its own
 * table): bridged traffic through iptables (br_netfilter's sysctls, per network namespace), and
 * the rules. Only inside that namespace: removing it removes them.
 */
export async function installKubeProxy(netnsPath: string, services: { ipv4?: readonly HairpinService[]; ipv6?: readonly HairpinService[] }): Promise<void> {
  await execIn(netnsPath, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1']);
  if (services.ipv4?.length) await execIn(netnsPath, ['iptables-restore', '--noflush'], kubeProxyRules(4, services.ipv4));
  if (services.ipv6?.length) await execIn(netnsPath, ['ip6tables-restore', '--noflush'], kubeProxyRules(6, services.ipv6));
}

/**
 * Python, run inside the pod, per pair of arguments `<pod address> <service address>`: listen on
 * <pod address>:8080, connect to <service address>:80, exchange a few bytes both ways, and print
 * (one JSON list, in argument order) the peer the server saw, or the error that stopped it (no
 * answer within the timeout, first argument, in seconds).
 */
export const HAIRPIN_PROBE = String.raw`
import json, socket, sys
def hairpin(pod, service, timeout):
    family = socket.AF_INET6 if ':' in pod else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((pod, ${TARGET_PORT}))
    server.listen(1)
    server.settimeout(timeout)
    try:
        client = socket.create_connection((service, ${SERVICE_PORT}), timeout=timeout)
        conn, peer = server.accept()
        conn.settimeout(timeout)
        client.sendall(b'ping')
        got = conn.recv(4)
        conn.sendall(b'pong')
        back = client.recv(4)
        return {'peer': peer[0], 'exchanged': (got + back).decode()}
    except OSError as error:
        return {'error': str(error)}
    finally:
        server.close()
timeout, pairs = float(sys.argv[1]), sys.argv[2:]
print(json.dumps([hairpin(pairs[i], pairs[i + 1], timeout) for i in range(0, len(pairs), 2)]))
`;

export type HairpinOutcome = { peer: string; exchanged: string } | { error: string };

/** Runs HAIRPIN_PROBE in the pod for each `[pod address, service address]`. */
export async function probeHairpin(podNetns: string, pairs: readonly (readonly [string, string])[], timeoutSeconds = 5): Promise<HairpinOutcome[]> {
  const { stdout } = await execIn(podNetns, ['python3', '-c', HAIRPIN_PROBE, String(timeoutSeconds), ...pairs.flat()]);
  return JSON.parse(stdout);
}
