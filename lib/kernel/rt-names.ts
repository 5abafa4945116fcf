// The names iproute2 gives routing numbers (its built-in tables, as /etc/iproute2/rt_protos and
// rt_scopes list them), both ways: reads print them as `ip -j` does, and a change made from what
// was read (the uplink move) turns them back into the numbers the kernel takes. Unknown numbers
// print as numbers and read back. A name an admin added in /etc/iproute2/rt_protos.d is not known
// here: the iproute2 reader would hand it over and the change would refuse it by name.

/** RTPROT_*: who made a route. */
export const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra', 10: 'mrt', 11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp',
  15: 'ntk', 16: 'dhcp', 18: 'keepalived', 42: 'babel', 99: 'openr', 186: 'bgp', 187: 'isis', 188: 'ospf', 189: 'rip', 192: 'eigrp',
};

/** RT_SCOPE_*. */
export const SCOPE_NAMES: Readonly<Record<number, string>> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

function numberOf(names: Readonly<Record<number, string>>, name: string, what: string): number {
  if (/^\d+$/.test(name) && Number(name) <= 255) return Number(name);
  const found = Object.entries(names).find(([, n]) => n === name);
  if (!found) throw new Error(`unknown route ${what} ${JSON.stringify(name)}`);
  return Number(found[0]);
}

export const protocolNumber = (name: string): number => numberOf(PROTOCOL_NAMES, name, 'protocol');
export const scopeNumber = (name: string): number => numberOf(SCOPE_NAMES, name === 'universe' ? 'global' : name, 'scope');
export const protocolName = (n: number): string => PROTOCOL_NAMES[n] ?? String(n);
export const scopeName = (n: number): string => SCOPE_NAMES[n] ?? String(n);
