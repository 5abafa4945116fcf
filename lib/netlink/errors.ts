// Netlink's failures: a syscall or a kernel refusal, with its errno. A KernelError, so the
// plugin reports it as it reports any kernel failure; lib/netlink/kernel.ts tells the errnos a
// change tolerates from the others.
import { KernelError } from '../kernel/errors.ts';

export const ERRNO = { ENOENT: 2, ESRCH: 3, ENODEV: 19, EEXIST: 17 } as const;

/** A failed syscall or a kernel refusal: errno, its text (strerror), the kernel's own words. */
export class NetlinkError extends KernelError {
  readonly errno: number;
  /** What went wrong, without what was being done. */
  readonly reason: string;
  /** `extAck` is the kernel's extended-ack text ("Nexthop has invalid gateway"), when it gave one. */
  constructor(what: string, errno: number, errnoText: string, extAck?: string) {
    const reason = `${errnoText}${extAck ? ` (${extAck})` : ''}`;
    super(`${what}: ${reason}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.reason = reason;
  }
}
