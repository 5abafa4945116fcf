// A bridge port's anti-spoofing elements over nfnetlink: what lib/netlink/kernel.ts does for the
// `guard-port` and `unguard-port` changes (lib/kernel/change.ts). Steady state is one
// transaction per change: the table is made once per node, by the first ADD that finds it
// missing, so every later ADD pays only for its elements (issue 17: ≤ 1 ms per ADD).
//
// How the kernel says "this node cannot do it" (net/netfilter/nf_tables_api.c, nfnetlink.c):
//   no NETLINK_NETFILTER at all                 socket(2): EPROTONOSUPPORT
//   nf_tables not loaded or not built           the batch: EOPNOTSUPP
//   no bridge family / filter chain type        NEWTABLE or NEWCHAIN: EAFNOSUPPORT, EOPNOTSUPP or ENOENT
// Each becomes NftablesUnavailableError when making the table; for removal there is then nothing
// to remove.
import { NftablesUnavailableError } from '../kernel/errors.ts';
import { ERRNO, NetlinkError } from '../netlink/errors.ts';
import { NftBatchError } from '../netlink/nftables.ts';
import type { BatchTransport, Transport } from '../netlink/transport.ts';
import { addElements, deleteElements, installTable, listElements } from './netlink.ts';
import type { Element, ElementSets, Ruleset } from './ruleset.ts';

const EOPNOTSUPP = 95;
const EAFNOSUPPORT = 97;
const EPROTONOSUPPORT = 93;
const UNSUPPORTED = new Set([EOPNOTSUPP, EAFNOSUPPORT, EPROTONOSUPPORT]);

/** Opens the nfnetlink socket; may throw (EPROTONOSUPPORT when the kernel has no nfnetlink). */
export type OpenBatchTransport = () => BatchTransport;

/**
 * Adds the port's elements in one transaction; when the table is missing (ENOENT: no such table
 * or set), makes it (`ruleset()`, the rules built only then) and adds them again. Concurrent
 * first ADDs race safely: one makes the table, the others get EEXIST, which installTable counts
 * as done.
 */
export function guardPort(open: OpenBatchTransport, sets: ElementSets, ruleset: () => Ruleset, elements: readonly Element[]): void {
  const transport = openOrExplain(open);
  try {
    addElements(transport, sets, elements);
    return;
  } catch (error) {
    if (!(error instanceof NftBatchError && error.errno === ERRNO.ENOENT)) throw explainUnsupported(error);
  }
  try {
    installTable(transport, ruleset());
  } catch (error) {
    if (error instanceof NftBatchError && error.errno === ERRNO.ENOENT) throw new NftablesUnavailableError(`nf_tables: ${error.message}`);
    throw explainUnsupported(error);
  }
  addElements(transport, sets, elements);
}

/** Removes the port's elements; gone ones, a missing table, or no nf_tables at all: nothing to remove. */
export function unguardPort(open: OpenBatchTransport, sets: ElementSets, elements: readonly Element[]): void {
  let transport: BatchTransport;
  try {
    transport = open();
  } catch (error) {
    if (error instanceof NetlinkError && UNSUPPORTED.has(error.errno)) return;
    throw error;
  }
  try {
    deleteElements(transport, sets, elements);
  } catch (error) {
    if (error instanceof NetlinkError && UNSUPPORTED.has(error.errno)) return;
    throw error;
  }
}

function openOrExplain(open: OpenBatchTransport): BatchTransport {
  try {
    return open();
  } catch (error) {
    throw explainUnsupported(error);
  }
}

/** A refusal that says the kernel lacks the feature becomes NftablesUnavailableError; others stay. */
function explainUnsupported(error: unknown): unknown {
  if (error instanceof NetlinkError && UNSUPPORTED.has(error.errno)) return new NftablesUnavailableError(`nf_tables: ${error.message}`);
  return error;
}

/**
 * Every element the node's table holds. No table, or no nf_tables at all: none (nothing could
 * have been added), as for unguardPort.
 */
export function readElements(open: () => BatchTransport & Transport, ruleset: Ruleset): Element[] {
  try {
    return listElements(open(), ruleset);
  } catch (error) {
    if (error instanceof NetlinkError && UNSUPPORTED.has(error.errno)) return [];
    throw error;
  }
}
