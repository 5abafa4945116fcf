// The start-up floor: built into a Node single executable exactly like the plugin (same Node
// binary, same SEA options), it does nothing and exits. Every Node-based plugin pays at least this.
