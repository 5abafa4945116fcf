// The start-up floor: built exactly like the plugin (scripts/bun.ts: the same Bun runtime and
// options), it does nothing and exits. Every plugin on that runtime pays at least this.
