// A netlink socket as requests see it: rtnl.ts and nftables.ts build messages and hand them
// over. socket.ts is the real one; unit tests pass a recorder.
import type { Message } from './codec.ts';

export interface Transport {
  nextSeq(): number;
  /**
   * Sends one message (built with `seq`) and returns its answer: the messages of a dump, or of a
   * single answer, none for an ACK. A kernel error throws NetlinkError, named by `what`.
   */
  request(what: string, message: Uint8Array, seq: number, dump: boolean): Message[];
}

/** The kernel's answer to one message of a batch: errno 0 is its ACK. */
export interface Ack {
  seq: number;
  errno: number;
  /** The extended-ack text, when the kernel gave one. */
  text?: string;
}

/**
 * A socket that sends several messages at once: an nfnetlink batch (BATCH_BEGIN, the messages,
 * BATCH_END) must arrive in one send(2) for the kernel to apply it as one transaction.
 */
export interface BatchTransport {
  nextSeq(): number;
  /**
   * Sends `messages` (whole netlink messages, one after another) in one send and returns the
   * answers to them: one per seq in `seqs` (those sent with NLM_F_ACK), in the order they came,
   * plus any error for another seq (a refusal of the whole batch). Kernel refusals are returned,
   * not thrown: the caller knows which of them it tolerates. Only a failed syscall throws.
   */
  exchange(what: string, messages: Uint8Array, seqs: readonly number[]): Ack[];
}
