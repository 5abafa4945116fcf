// Crash chaos on one node: ~1,000 ADD/DEL operations of the real plugin at concurrency 16, about
// one in ten SIGKILLed at a random moment of its run, as a runtime's timeout or an OOM kill would.
// Recovery is what a runtime does: DEL every attachment whose operation was killed (kubelet
// retries), and GC with the live list for those the runtime forgot. The properties (issue 8):
// no two pods ever share an address (checked every CHECK_EVERY operations in every pod netns and
// against the IPAM store), a DEL'd attachment holds no reservation, and at the end no
// reservation, veth or pod-side eth0 is left over. Anti-spoofing (on by default, issue 17): at
// every checkpoint no element of the node's table refers to a port that does not exist, after
// GC the guarded ports are exactly the live pods' veths, and at the end no element is left.
//
// Replay a failure with its printed seed: CHAOS_SEED=<seed> npm run test:integration. The seed
// fixes every decision (which command, which pod, whether and when to kill); only the scheduling
// of the 16 workers differs between runs. CHAOS_OPERATIONS=<n> changes the length.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { guardedPorts } from '../support/antispoof-elements.ts';
import { poll } from '../support/poll.ts';
import { mapLimit, processGroupGone, skipUnlessRoot, withNode, type PluginRun, type TestNode } from './harness.ts';

const OPERATIONS = Number(process.env.CHAOS_OPERATIONS ?? 1000);
const CONCURRENCY = 16;
const KILL_RATE = 0.14; // of operations; 1 in 4 to 1 in 3 finishes before its kill lands, so ~10% die
const CHECK_EVERY = 100;
/** Share of killed attachments the "runtime" forgets (it crashed too): only GC can clean them. */
const FORGET_RATE = 0.2;
const SUBNET = '10.98.0.0/22'; // 1021 addresses: exhaustion is not what this test is about
const NETWORK = 'chaosnet';

/** mulberry32: a tiny seeded PRNG, so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every decision of one operation, drawn up front in operation order (hence replayable). */
interface Decision {
  add: boolean; // ADD a new pod, else DEL a live one
  pick: number; // which live pod to DEL, as a fraction of the live list
  kill: boolean;
  killAt: number; // kill after this multiple (0-1.3) of the command's recent median duration
  forget: boolean; // if killed: the runtime forgets it (GC), instead of retrying DEL
}

function decide(random: () => number, liveTarget: { low: number; high: number }): (live: number) => Decision {
  return (live) => {
    const roll = random();
    const decision = { pick: random(), kill: random() < KILL_RATE, killAt: random() * 1.3, forget: random() < FORGET_RATE };
    // Keep the live population between low and high, drifting both ways in between.
    const add = live < liveTarget.low ? true : live >= liveTarget.high ? false : roll < 0.55;
    return { add, ...decision };
  };
}

/** A pod netns of the pool, reused by the next ADD once its attachment is DEL'd. */
interface Slot {
  netns: string;
  state: 'free' | 'busy' | 'live' | 'killed' | 'forgotten';
  containerId?: string;
  address?: string;
  /** The command that was SIGKILLed on this attachment, until the attachment is cleaned. */
  killedIn?: 'ADD' | 'DEL';
  /** What the killed command had left, once looked at (before any recovery touches it). */
  leftBehind?: string;
}

/** What a killed command left, from least to most done (for an ADD) or most to least (DEL). */
const LEFT_BEHIND = ['nothing', 'an address', 'a veth', 'a configured eth0'] as const;

interface Figures {
  seed: number;
  operations: { ADD: number; DEL: number };
  kills: { ADD: number; DEL: number };
  /** For killed commands: how many left each LEFT_BEHIND state (kills landed at all moments). */
  leftBehind: { ADD: Record<string, number>; DEL: Record<string, number> };
  killsTooLate: number;
  recoveryDels: number;
  forgotten: number;
  gcReleased: number;
  gcDeletedVeths: number;
  checkpoints: number;
  duplicates: number;
  storeMismatches: number;
  leakedReservations: number;
  podLeftovers: number;
  unexpectedFailures: string[];
  podNetns: number;
  seconds: number;
}

describe('crash chaos', { skip: skipUnlessRoot }, () => {
  test(`${OPERATIONS} ADD/DEL at concurrency ${CONCURRENCY} with ~10% SIGKILLed: no duplicate address, nothing leaked`, { timeout: 600_000 }, (t) =>
    withNode(async (node) => {
      const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 32);
      t.diagnostic(`chaos seed ${seed} (replay: CHAOS_SEED=${seed})`);
      const chaos = new Chaos(node, seed);
      const started = Date.now();
      try {
        await chaos.run();
      } finally {
        chaos.figures.seconds = Math.round((Date.now() - started) / 100) / 10;
        report(t, chaos.figures);
      }
    }));
});

class Chaos {
  readonly figures: Figures;
  private readonly conf: Record<string, any>;
  private readonly next: (live: number) => Decision;
  private readonly slots: Slot[] = [];
  private readonly killedGroups = new Set<number>();
  private readonly durations = { ADD: [] as number[], DEL: [] as number[] };
  private readonly node: TestNode;
  private growing: Promise<void> | undefined;
  private serial = 0;

  constructor(node: TestNode, seed: number) {
    this.node = node;
    this.conf = node.conf({ name: NETWORK, logLevel: 'info' }, SUBNET);
    this.next = decide(prng(seed), { low: 8, high: 64 });
    this.figures = {
      seed, operations: { ADD: 0, DEL: 0 }, kills: { ADD: 0, DEL: 0 }, leftBehind: { ADD: {}, DEL: {} }, killsTooLate: 0, recoveryDels: 0, forgotten: 0, gcReleased: 0, gcDeletedVeths: 0,
      checkpoints: 0, duplicates: 0, storeMismatches: 0, leakedReservations: 0, podLeftovers: 0, unexpectedFailures: [], podNetns: 0, seconds: 0,
    };
  }

  async run(): Promise<void> {
    for (let done = 0; done < OPERATIONS; done += CHECK_EVERY) {
      const count = Math.min(CHECK_EVERY, OPERATIONS - done);
      await mapLimit(Array.from({ length: count }), CONCURRENCY, () => this.operation());
      await this.retryKilledDels();
      await this.checkpoint(`after ${done + count} operations`);
    }
    // Recovery: kubelet's DEL retries are done above; GC with the live list removes the rest.
    const before = { addresses: reservations(this.node.dataDir).size, veths: (await this.veths()).length };
    const gc = await this.cni('GC', undefined, { 'cni.dev/valid-attachments': this.live().map((s) => ({ containerID: s.containerId, ifname: 'eth0' })) });
    assert.equal(gc.exitCode, 0, `GC failed: ${gc.stdout} ${gc.stderr}`);
    this.figures.gcReleased = before.addresses - reservations(this.node.dataDir).size;
    this.figures.gcDeletedVeths = before.veths - (await this.veths()).length;
    for (const slot of this.slots.filter((s) => s.state === 'forgotten')) this.free(slot);
    await this.checkpoint('after GC');
    await this.assertOnlyLiveState('after GC');

    // Finally every live pod goes: the node must be back to an empty bridge and store.
    await mapLimit(this.live(), CONCURRENCY, async (slot) => {
      const del = await this.cni('DEL', slot);
      assert.equal(del.exitCode, 0, `DEL ${slot.containerId} failed: ${del.stdout} ${del.stderr}`);
      this.free(slot);
    });
    await this.checkpoint('after deleting every pod');
    await this.assertOnlyLiveState('at the end');
    assert.deepEqual(this.figures.unexpectedFailures, [], 'only killed operations may fail');
  }

  /** One ADD or DEL, maybe SIGKILLed after a random delay. */
  private async operation(): Promise<void> {
    const decision = this.next(this.live().length);
    const command = decision.add ? 'ADD' : 'DEL';
    const slot = decision.add ? await this.freeSlot() : this.takeLive(decision.pick);
    if (command === 'ADD') slot.containerId = `chaos${(this.serial++).toString(36)}`;
    slot.state = 'busy';
    this.figures.operations[command]++;
    const delayMs = decision.kill ? decision.killAt * median(this.durations[command], 100) : undefined;
    const started = performance.now();
    const outcome = await this.cni(command, slot, {}, delayMs);
    if (outcome.signal === 'SIGKILL') {
      this.figures.kills[command]++;
      slot.state = decision.forget ? 'forgotten' : 'killed';
      slot.killedIn = command;
      if (decision.forget) this.figures.forgotten++;
      return;
    }
    if (decision.kill) this.figures.killsTooLate++;
    else remember(this.durations[command], performance.now() - started);
    if (outcome.exitCode !== 0) {
      // A runtime DELs a failed attachment: keep it for the retry loop, and fail the test at the end.
      this.figures.unexpectedFailures.push(`${command} ${slot.containerId}: exit ${outcome.exitCode}: ${outcome.stdout.trim()}`);
      slot.state = 'killed';
      return;
    }
    if (command === 'ADD') Object.assign(slot, { state: 'live', address: (outcome.json!.ips[0].address as string).split('/')[0] });
    else this.free(slot);
  }

  /** Runs the plugin for the slot's attachment; SIGKILLs it after killAfterMs when that is set. */
  private async cni(command: string, slot: Slot | undefined, extra: object = {}, killAfterMs?: number): Promise<PluginRun & { signal: NodeJS.Signals | null }> {
    const attachment = slot ? { containerId: slot.containerId, netns: slot.netns, ifname: 'eth0' } : {};
    const plugin = this.node.start({ command, ...attachment, conf: { ...this.conf, ...extra } });
    let timer: NodeJS.Timeout | undefined;
    if (killAfterMs !== undefined) {
      timer = setTimeout(() => {
        if (plugin.child.pid) this.killedGroups.add(plugin.child.pid);
        plugin.child.kill('SIGKILL');
      }, killAfterMs);
    }
    const outcome = await plugin.done;
    clearTimeout(timer);
    return outcome;
  }

  /** Kubelet retries DEL of an attachment whose operation died until it succeeds. */
  private async retryKilledDels(): Promise<void> {
    // The dead plugins' `ip` children may still be running: let them finish first, as they would
    // long before a runtime's retry comes (seconds later). Otherwise a host-side batch that ends
    // after our DEL recreates the veth the DEL just removed.
    await poll(() => [...this.killedGroups].every(processGroupGone), { timeoutMs: 30_000, what: 'killed plugins\' processes to exit' });
    this.killedGroups.clear();
    await this.examineKilled();
    await mapLimit(this.slots.filter((s) => s.state === 'killed'), CONCURRENCY, async (slot) => {
      let del = await this.cni('DEL', slot);
      for (let attempt = 1; del.exitCode !== 0 && attempt < 3; attempt++) del = await this.cni('DEL', slot);
      this.figures.recoveryDels++;
      if (del.exitCode !== 0) throw new Error(`DEL retry of ${slot.containerId} failed 3 times: ${del.stdout} ${del.stderr}`);
      this.free(slot);
    });
  }

  /**
   * Every pod netns of the pool, as `ip -j addr` shows it: no address on two eth0s; every live
   * pod has its own address on eth0, reserved for it in the IPAM store; a free netns has no eth0.
   */
  private async checkpoint(where: string): Promise<void> {
    this.figures.checkpoints++;
    const seen = await mapLimit(this.slots, CONCURRENCY, async (slot) => {
      const links = await this.node.ipJson(['addr', 'show'], slot.netns);
      const eth0 = links.find((l) => l.ifname === 'eth0');
      const inet = (eth0?.addr_info ?? []).filter((a: { family: string }) => a.family === 'inet');
      return { slot, eth0: eth0 !== undefined, addresses: inet.map((a: { local: string }) => a.local) as string[] };
    });
    const problems: string[] = [];
    const holders = new Map<string, string[]>();
    for (const { slot, addresses } of seen) for (const address of addresses) holders.set(address, [...(holders.get(address) ?? []), slot.netns]);
    for (const [address, netns] of holders) {
      if (netns.length > 1) {
        this.figures.duplicates++;
        problems.push(`${address} is on eth0 in ${netns.length} pods: ${netns.map((n) => path.basename(n)).join(' ')}`);
      }
    }
    const store = reservations(this.node.dataDir);
    // A DEL'd attachment holds nothing: every reservation and index entry belongs to an attachment
    // that is live, or killed and not yet recovered.
    const known = new Set(this.slots.flatMap((s) => (s.containerId ? [s.containerId] : [])));
    for (const [address, owner] of store) {
      if (!known.has(owner)) {
        this.figures.leakedReservations++;
        problems.push(`${address} is still reserved for ${owner}, which was DEL'd`);
      }
    }
    for (const key of attachmentIndex(this.node.dataDir)) {
      if (!known.has(key.slice(0, key.lastIndexOf(':')))) {
        this.figures.leakedReservations++;
        problems.push(`the IPAM index still has ${key}, which was DEL'd`);
      }
    }
    for (const { slot, eth0, addresses } of seen) {
      if (slot.state === 'live') {
        const owner = store.get(slot.address!);
        if (!addresses.includes(slot.address!)) problems.push(`live pod ${slot.containerId} lacks its address ${slot.address} on eth0 (has ${addresses.join(' ') || 'none'})`);
        if (owner !== slot.containerId) {
          this.figures.storeMismatches++;
          problems.push(`live pod ${slot.containerId}'s address ${slot.address} is ${owner ? `reserved for ${owner}` : 'not reserved'} in the IPAM store`);
        }
      } else if (slot.state === 'free' && eth0) {
        this.figures.podLeftovers++;
        problems.push(`${path.basename(slot.netns)} has no attachment but still an eth0 (${addresses.join(' ') || 'no address'})`);
      }
    }
    // Every element's port exists: ADD guards a veth it made, DEL and a rollback unguard before
    // deleting it, GC unguards the veths it deletes and those gone without DEL.
    const links = new Set((await this.node.ipJson(['link', 'show'])).map((l) => l.ifname as string));
    for (const port of await guardedPorts(this.node.path)) {
      if (!links.has(port)) problems.push(`anti-spoofing elements refer to ${port}, which does not exist`);
    }
    assert.deepEqual(problems, [], `chaos checkpoint ${where}`);
  }

  /** The store, the node's veths and the bridge hold exactly the live attachments, nothing else. */
  private async assertOnlyLiveState(where: string): Promise<void> {
    const live = this.live();
    const expected = new Map(live.map((s) => [s.address!, s.containerId!]));
    assert.deepEqual(reservations(this.node.dataDir), expected, `IPAM reservations ${where}`);
    assert.deepEqual(attachmentIndex(this.node.dataDir), live.map((s) => `${s.containerId}:eth0`).sort(), `IPAM attachment index ${where}`);
    assert.deepEqual(storeDebris(this.node.dataDir), [], `temporary files left in ${this.node.dataDir} ${where}`);
    const veths = await this.veths();
    assert.equal(veths.length, live.length, `veths on the node ${where}: ${veths.join(' ')}`);
    const ports = await this.node.ipJson(['link', 'show', 'master', 'cni0']);
    assert.equal(ports.length, live.length, `ports of cni0 ${where}`);
    assert.deepEqual(await guardedPorts(this.node.path), veths.slice().sort(), `ports with anti-spoofing elements ${where}`);
  }

  /** Records, once per killed attachment, how far its command had come. */
  private async examineKilled(): Promise<void> {
    const reservedFor = new Set(reservations(this.node.dataDir).values());
    const killed = this.slots.filter((s) => s.killedIn && !s.leftBehind);
    await mapLimit(killed, CONCURRENCY, async (slot) => {
      const eth0 = (await this.node.ipJson(['addr', 'show'], slot.netns)).find((l) => l.ifname === 'eth0');
      const configured = (eth0?.addr_info ?? []).some((a: { family: string }) => a.family === 'inet');
      slot.leftBehind = LEFT_BEHIND[configured ? 3 : eth0 ? 2 : reservedFor.has(slot.containerId!) ? 1 : 0];
      const counts = this.figures.leftBehind[slot.killedIn!];
      counts[slot.leftBehind] = (counts[slot.leftBehind] ?? 0) + 1;
    });
  }

  private free(slot: Slot): void {
    Object.assign(slot, { state: 'free', containerId: undefined, address: undefined, killedIn: undefined, leftBehind: undefined });
  }

  private async veths(): Promise<string[]> {
    return (await this.node.ipJson(['link', 'show', 'type', 'veth'])).map((l) => l.ifname as string);
  }

  private live(): Slot[] {
    return this.slots.filter((s) => s.state === 'live');
  }

  private takeLive(pick: number): Slot {
    const live = this.live();
    return live[Math.floor(pick * live.length)]!;
  }

  /** A free pod netns; the pool grows by a batch when none is free. */
  private async freeSlot(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => s.state === 'free');
      if (free) {
        free.state = 'busy';
        return free;
      }
      this.growing ??= this.node.podBatch(CONCURRENCY).then((paths) => {
        for (const netns of paths) this.slots.push({ netns, state: 'free' });
        this.figures.podNetns += paths.length;
        this.growing = undefined;
      });
      await this.growing;
    }
  }
}

/** ips/<address> -> owner containerId, as the built-in IPAM stores them. */
function reservations(dataDir: string): Map<string, string> {
  const dir = path.join(dataDir, NETWORK, 'ips');
  const owners = new Map<string, string>();
  for (const name of listDir(dir).filter((n) => !n.endsWith('.tmp'))) {
    owners.set(name, fs.readFileSync(path.join(dir, name), 'utf8').split('\n')[0]!);
  }
  return new Map([...owners].sort());
}

function attachmentIndex(dataDir: string): string[] {
  return listDir(path.join(dataDir, NETWORK, 'attachments')).filter((n) => !n.endsWith('.tmp')).sort();
}

/** Temporary files a killed plugin left behind, which nothing would ever remove. */
function storeDebris(dataDir: string): string[] {
  return ['ips', 'attachments', ''].flatMap((sub) => listDir(path.join(dataDir, NETWORK, sub)).filter((n) => n.endsWith('.tmp')).map((n) => path.join(sub, n)));
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function median(samples: number[], fallback: number): number {
  if (samples.length === 0) return fallback;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Keeps the last 50 durations of a command. */
function remember(samples: number[], ms: number): void {
  samples.push(ms);
  if (samples.length > 50) samples.shift();
}

function report(t: TestContext, f: Figures): void {
  t.diagnostic(
    `chaos figures: seed ${f.seed}; operations ${f.operations.ADD + f.operations.DEL} (ADD ${f.operations.ADD}, DEL ${f.operations.DEL}) at concurrency ${CONCURRENCY}; ` +
      `SIGKILLed ${f.kills.ADD + f.kills.DEL} (ADD ${f.kills.ADD}, DEL ${f.kills.DEL}; ${f.killsTooLate} more finished before their kill); ` +
      `killed ADDs left ${leftBehind(f.leftBehind.ADD)}; killed DELs left ${leftBehind(f.leftBehind.DEL)}; ` +
      `recovered by DEL retry ${f.recoveryDels}, forgotten and left to GC ${f.forgotten} (GC released ${f.gcReleased} addresses, deleted ${f.gcDeletedVeths} veths); ` +
      `checkpoints ${f.checkpoints}: duplicate addresses ${f.duplicates}, store mismatches ${f.storeMismatches}, leaked reservations ${f.leakedReservations}, pod leftovers ${f.podLeftovers}; ` +
      `unexpected failures ${f.unexpectedFailures.length}; pod netns ${f.podNetns}; ${f.seconds} s`,
  );
}

function leftBehind(counts: Record<string, number>): string {
  return LEFT_BEHIND.map((state) => `${state} ${counts[state] ?? 0}`).join(', ');
}
