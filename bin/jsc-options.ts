// The agent runs JavaScriptCore without its optimizing tiers (DFG and FTL): the interpreter and
// the baseline JIT only, as the Node build runs V8 with --no-opt --no-maglev. The agent works in
// short bursts (a page of the Node list, a sync) that end before optimized code pays off, and
// the optimizing compilers cost memory while they run (their own allocations, and more of the
// executable's pages touched): at 5,000 nodes the agent peaked ~9 MiB lower in Kubernetes mode
// and ~14 MiB lower in standalone mode, and converged no slower (bench/AGENT.md).
// JavaScriptCore reads its options from the environment once, when the runtime starts, and a
// compiled Bun executable takes no flag for them, so the agent re-executes itself once with them
// set (execve: the same pid, the same file, the same name and arguments). Pure, apart from
// startWithJscOptions.
export const AGENT_JSC_OPTIONS: Readonly<Record<string, string>> = {
  BUN_JSC_useDFGJIT: 'false',
  BUN_JSC_useFTLJIT: 'false',
};

/**
 * The environment to re-execute the agent with, or undefined to run as it is: off Bun (the
 * bench's Node build has its V8 flags), or when every option is already set (after the re-exec,
 * or set by an admin, whose value wins).
 */
export function jscReexecEnv(env: Readonly<Record<string, string | undefined>>, onBun: boolean): Record<string, string> | undefined {
  if (!onBun) return undefined;
  const missing = Object.entries(AGENT_JSC_OPTIONS).filter(([name]) => env[name] === undefined);
  if (missing.length === 0) return undefined;
  const defined = Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return Object.fromEntries([...defined, ...missing]);
}

/**
 * Re-executes this process with AGENT_JSC_OPTIONS when they are not in effect yet; returns only
 * when no re-exec is needed, or when it failed (then the agent runs without them: more memory,
 * the same behaviour, and a line on stderr says so).
 */
export function startWithJscOptions(): void {
  const env = jscReexecEnv(process.env, process.versions.bun !== undefined);
  if (!env) return;
  try {
    // argv0: the name the caller exec'd (bridgeway-agent, or bridgeway with `agent`), which decides the role.
    process.execve!(process.execPath, [process.argv0, ...process.argv.slice(2)], env);
  } catch (error) {
    process.stderr.write(`bridgeway-agent: could not restart with JavaScriptCore's options (${error instanceof Error ? error.message : String(error)}); running without them\n`);
  }
}
