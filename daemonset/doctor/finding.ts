// What the doctor reports: one finding per check, naming the exact object (a sysctl, an
// interface, a route's destination and next hop, a file, an address) and, when something is
// wrong, the command or setting that fixes it.

export type Severity = 'OK' | 'WARN' | 'FAIL';

export interface Finding {
  severity: Severity;
  /** The area, for grouping and for scripts: `sysctl`, `interface`, `route`, `iptables`, ... */
  check: string;
  /** The object, named exactly: `net.ipv4.ip_forward`, `eth1`, `route 10.244.2.0/24 via 192.168.50.11`. */
  object: string;
  /** What was found. */
  detail: string;
  /** For WARN and FAIL: the command or setting that fixes it. */
  fix?: string;
}

export const ok = (check: string, object: string, detail: string): Finding => ({ severity: 'OK', check, object, detail });
export const warn = (check: string, object: string, detail: string, fix: string): Finding => ({ severity: 'WARN', check, object, detail, fix });
export const fail = (check: string, object: string, detail: string, fix: string): Finding => ({ severity: 'FAIL', check, object, detail, fix });
