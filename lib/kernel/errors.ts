// The kernel layer's errors, whichever backend reached the kernel. Each backend maps its own
// failures into these (lib/iproute2/batch.ts from `ip -batch` stderr, lib/netlink/kernel.ts from
// the kernel's errno), so a caller decides on a KernelChangeError and never on a backend's
// error; the plugin reports every KernelError as code 103 (cni/errors.ts), except
// NftablesUnavailableError, code 11.

/** What a change may fail with and still leave the desired state in place. */
export type Tolerated = 'exists' | 'missing';

/** A kernel operation failed (a change, a read, opening a namespace's socket). */
export class KernelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelError';
  }
}

/** One change that failed, named by its iproute2 spelling. */
export interface ChangeFailure {
  what: string;
  message: string;
  kind: Tolerated | 'other';
}

export class KernelChangeError extends KernelError {
  readonly failures: readonly ChangeFailure[];
  constructor(failures: readonly ChangeFailure[], prefix = '') {
    super(failures.map((f) => `${prefix}${f.what}: ${f.message}`).join('; '));
    this.name = 'KernelChangeError';
    this.failures = failures;
  }

  /** True when some failing change failed because its object exists (or is missing). */
  has(kind: Tolerated): boolean {
    return this.failures.some((f) => f.kind === kind);
  }
}

/**
 * The node cannot hold the anti-spoofing table: no nf_tables, no bridge family in it, or (the
 * iproute2 fallback) no `nft`. A KernelError, which the plugin reports as code 11 ("try again
 * later", issue 17) rather than 103, with the cause and the way out: the pod is never started
 * unguarded.
 */
export class NftablesUnavailableError extends KernelError {
  constructor(cause: string) {
    super(
      `anti-spoofing needs nf_tables with the bridge family on the node (${cause}); ` +
        'it needs a kernel with CONFIG_NF_TABLES and CONFIG_NF_TABLES_BRIDGE (`modprobe nf_tables`), and `nft` where the plugin runs on Node; ' +
        'or set "antiSpoofing": false in the network config to run this network without it',
    );
    this.name = 'NftablesUnavailableError';
  }
}
