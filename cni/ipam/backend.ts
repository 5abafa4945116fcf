// What the commands ask of IPAM, whoever holds the addresses: the built-in allocator
// (builtin.ts) or an IPAM plugin (delegated.ts).
import type { IpCidr, IpFamily } from '../../lib/cidr.ts';
import type { PodAddressing } from '../plan.ts';

/** What releasing did: the addresses freed, nothing was held, or the IPAM plugin did it (it does not say what). */
export type Released = { addresses: string[] } | 'none' | 'delegated';

export interface IpamBackend {
  /**
   * Reserves (or finds again) the attachment's addresses, one per configured family, all or
   * none. `fresh`: the families this call reserved anew (an address held before is not fresh).
   */
  add(): Promise<PodAddressing & { fresh: IpFamily[] }>;
  /** Releases the attachment's addresses (of the given families; default all); nothing reserved is success. */
  del(families?: readonly IpFamily[]): Promise<Released>;
  /** Throws CniError unless the attachment still holds `address`. */
  check(address: IpCidr): Promise<void>;
}
