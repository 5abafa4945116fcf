// MAC addresses as text ("0a:58:0a:f4:01:07", lower case, as the kernel and iproute2 print them)
// and as the six bytes rtnetlink carries.

export function formatMac(bytes: Iterable<number>): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`not a MAC address: ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}
