// A netlink socket as requests see it: rtnl.ts (and the nfnetlink requests beside it) build a
// message and hand it over. socket.ts is the real one; unit tests pass a recorder.
import type { Message } from './codec.ts';

export interface Transport {
  nextSeq(): number;
  /**
   * Sends one message (built with `seq`) and returns its answer: the messages of a dump, or of a
   * single answer, none for an ACK. A kernel error throws NetlinkError, named by `what`.
   */
  request(what: string, message: Uint8Array, seq: number, dump: boolean): Message[];
}
