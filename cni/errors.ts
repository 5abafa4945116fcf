// The one error type the plugin reports, and the one place where anything else becomes one.
// Codes: CNI SPEC.md "Error" section; 100+ are ours.
import { CommandError } from '../lib/exec.ts';
import { KernelError, NftablesUnavailableError } from '../lib/kernel/errors.ts';
import { errorMessage } from '../lib/errors.ts';
import { IpamExhaustedError, IpamStoreError } from '../ipam/index.ts';

export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  /** Ours: the interface named by CNI_IFNAME already exists in the pod's netns. */
  InterfaceExists: 100,
  /** Ours: the pod's network is not what prevResult says (CHECK). */
  CheckFailed: 101,
  /** Ours: no free address in the node's pod range. */
  AddressesExhausted: 102,
  /** Ours: a kernel operation (rtnetlink, ip, nsenter) failed. */
  KernelOperationFailed: 103,
  /** Ours: the delegated IPAM plugin failed. */
  DelegatedIpamFailed: 104,
  Internal: 999,
} as const;

export class CniError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

/** Maps any thrown value to a CniError. Unknown errors become code 999 here and nowhere else. */
export function toCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  if (error instanceof IpamExhaustedError) return new CniError(ErrorCode.AddressesExhausted, error.message);
  if (error instanceof IpamStoreError) return new CniError(ErrorCode.IoFailure, error.message);
  // Issue 17: a node that cannot hold the anti-spoofing table answers "try again later" with the
  // reason, not "a kernel operation failed": nothing is wrong with this pod or its config, and
  // the runtime's retry succeeds once the node can (`modprobe nf_tables`, a kernel with the
  // bridge family) or the network is set to "antiSpoofing": false. Before KernelError: it is one.
  if (error instanceof NftablesUnavailableError) return new CniError(ErrorCode.TryAgainLater, error.message);
  if (error instanceof KernelError || error instanceof CommandError) {
    return new CniError(ErrorCode.KernelOperationFailed, error.message);
  }
  // The stack goes to the log (skel does that), never to stdout.
  return new CniError(ErrorCode.Internal, `internal error: ${errorMessage(error)}`);
}
