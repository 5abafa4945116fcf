// A level-triggered agent sees the same state on every sync (every event, every resync): it says
// something, or writes something to the API, once per change of that state, not once per sync.
// The state is reduced to a key (a string, often JSON); acting on a key that differs from the
// last one acted on is what this remembers.

export class OncePerChange {
  private acted: string;

  /** `initial`: the key that counts as already acted on (so a first sync in that state says nothing). */
  constructor(initial = '') {
    this.acted = initial;
  }

  /** The key last acted on. */
  get last(): string {
    return this.acted;
  }

  /** Runs `act` when `key` differs from the last key acted on, and remembers `key` once it returns. */
  whenChanged(key: string, act: () => void): void {
    if (key === this.acted) return;
    act();
    this.acted = key;
  }

  /** The same for an act that resolves later (an API write): one that fails runs again next time. */
  async whenChangedAsync(key: string, act: () => Promise<void>): Promise<void> {
    if (key === this.acted) return;
    await act();
    this.acted = key;
  }
}
