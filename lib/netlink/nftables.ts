// nf_tables transactions: NFNL_MSG_BATCH_BEGIN, the messages, NFNL_MSG_BATCH_END, framed into
// one buffer and sent in one send(2) (a BatchTransport: socket.ts, or a recorder in unit tests).
// The kernel applies a batch atomically and serialises batches (the nf_tables commit mutex), so
// concurrent plugins never see each other's half-made table. Every message but the delimiters
// carries NLM_F_ACK: the kernel answers each one, at the end of the batch, and the batch took
// effect only when every answer is an ACK (after a failure it still checks, and ACKs, the
// messages that follow, then aborts them all).
import { encodeMessage, NLM_F } from './codec.ts';
import { NetlinkError } from './errors.ts';
import { NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NFNL_SUBSYS_NFTABLES, nfgenmsg, type NftMessage } from './nft-codec.ts';
import type { BatchTransport, Transport } from './transport.ts';

/** One refused message of a batch: its nft spelling and the kernel's reason. */
export interface BatchFailure {
  what: string;
  errno: number;
  text?: string;
}

/**
 * The batch was refused, and so nothing of it happened. `failures` names each message the kernel
 * refused, first the first; a NetlinkError for the first, so callers that only know errnos (the
 * tolerated EEXIST and ENOENT) read `errno`.
 */
export class NftBatchError extends NetlinkError {
  readonly failures: readonly BatchFailure[];
  constructor(failures: readonly BatchFailure[], strerror: (errno: number) => string) {
    const [first] = failures;
    super(`nftables: ${first!.what}`, first!.errno, strerror(first!.errno), first!.text);
    this.name = 'NftBatchError';
    this.failures = failures;
  }
}

/** The whole batch as one buffer, and the seqs whose ACKs it asks for. */
export function encodeBatch(transport: Pick<BatchTransport, 'nextSeq'>, messages: readonly NftMessage[]): { buffer: Uint8Array; seqs: number[]; bySeq: Map<number, NftMessage> } {
  const delimiter = (type: number) => encodeMessage(type, NLM_F.REQUEST, transport.nextSeq(), nfgenmsg(0, NFNL_SUBSYS_NFTABLES));
  const bySeq = new Map<number, NftMessage>();
  const seqs: number[] = [];
  const parts = [delimiter(NFNL_MSG_BATCH_BEGIN)];
  let length = parts[0]!.length;
  for (const message of messages) {
    const seq = transport.nextSeq();
    bySeq.set(seq, message);
    seqs.push(seq);
    const part = encodeMessage((NFNL_SUBSYS_NFTABLES << 8) | message.type, NLM_F.REQUEST | NLM_F.ACK | message.flags, seq, nfgenmsg(message.family), message.attrs);
    parts.push(part);
    length += part.length;
  }
  const end = delimiter(NFNL_MSG_BATCH_END);
  parts.push(end);
  const buffer = new Uint8Array(length + end.length);
  let at = 0;
  for (const part of parts) {
    buffer.set(part, at);
    at += part.length;
  }
  return { buffer, seqs, bySeq };
}

/**
 * Sends the messages as one transaction; throws NftBatchError when the kernel refused any of
 * them (then none took effect), or when it left one unanswered.
 */
export function sendBatch(transport: BatchTransport, what: string, messages: readonly NftMessage[], strerror: (errno: number) => string = defaultStrerror): void {
  if (messages.length === 0) return;
  const { buffer, seqs, bySeq } = encodeBatch(transport, messages);
  const acks = transport.exchange(what, buffer, seqs);
  const failures: BatchFailure[] = acks
    .filter((ack) => ack.errno !== 0)
    .map((ack) => ({ what: bySeq.get(ack.seq)?.what ?? what, errno: ack.errno, ...(ack.text ? { text: ack.text } : {}) }));
  if (failures.length === 0) {
    const answered = new Set(acks.map((a) => a.seq));
    const missing = seqs.filter((s) => !answered.has(s));
    if (missing.length === 0) return;
    throw new Error(`nftables: ${what}: no answer to ${missing.length} of ${seqs.length} messages`);
  }
  throw new NftBatchError(failures, strerror);
}

/** The texts of the errnos nf_tables answers with; others by number (socket.ts has libc's strerror). */
const ERRNO_TEXT: Record<number, string> = {
  1: 'Operation not permitted', 2: 'No such file or directory', 12: 'Cannot allocate memory', 16: 'Device or resource busy',
  17: 'File exists', 22: 'Invalid argument', 93: 'Protocol not supported', 95: 'Operation not supported',
};
function defaultStrerror(errno: number): string {
  return ERRNO_TEXT[errno] ?? `errno ${errno}`;
}

/**
 * One dump request outside any batch (reads are not transactions): the answers' payloads, in
 * order. A refusal throws NetlinkError (ENOENT: no such table or set).
 */
export function dumpRequest(transport: Transport, message: NftMessage): Uint8Array[] {
  const seq = transport.nextSeq();
  const bytes = encodeMessage((NFNL_SUBSYS_NFTABLES << 8) | message.type, NLM_F.REQUEST | message.flags, seq, nfgenmsg(message.family), message.attrs);
  return transport.request(message.what, bytes, seq, true).map((answer) => answer.payload);
}
