// Which of its two roles the one executable plays (pure: name, arguments, environment -> role).
// dist/bridgeway is both the CNI plugin and the node agent (issue 18: one runtime in the image,
// not two). The runtime execs the plugin as `<cni bin dir>/bridgeway` with no arguments and
// CNI_COMMAND in the environment (libcni's invoke: argv is the path alone); the DaemonSet runs
// the agent as `bridgeway-agent` (a symlink in the image) and an admin may type
// `bridgeway agent ...`. The rules, in order:
//
//   CNI_COMMAND set       name bridgeway         -> the plugin, whatever the arguments
//                         any other name         -> a CNI error document: a runtime is waiting
//                                                   for one, and must never get a long-running
//                                                   agent instead (it would hang the pod's start)
//   no CNI_COMMAND        name bridgeway-agent   -> the agent with every argument
//                         bridgeway agent ...    -> the agent with the arguments after "agent"
//                         bridgeway (no args)    -> the plugin, which answers with its CNI error
//                                                   (CNI_COMMAND is not set), as before
//                         bridgeway --help       -> the usage below
//                         anything else          -> a usage error naming what was not understood
import { PLUGIN_TYPE } from '../lib/names.ts';

/** The agent's name: the image's symlink to the one executable. */
export const AGENT_NAME = `${PLUGIN_TYPE}-agent`;
/** `bridgeway agent ...`: the agent without the symlink. */
export const AGENT_SUBCOMMAND = 'agent';

export type Role =
  | { role: 'plugin' }
  | { role: 'agent'; args: string[] }
  | { role: 'usage' }
  /** Not understood: `cni` says to answer as a plugin would (a CNI error on stdout), else on stderr. */
  | { role: 'refuse'; message: string; cni: boolean };

export function usage(): string {
  return [
    `${PLUGIN_TYPE}: the bridgeway CNI plugin and node agent, one executable.`,
    '',
    `  ${PLUGIN_TYPE}                       the CNI plugin: the container runtime runs it with CNI_COMMAND set`,
    `  ${PLUGIN_TYPE} ${AGENT_SUBCOMMAND} [flags]          the node agent (also: ${AGENT_NAME} [flags]); ${PLUGIN_TYPE} ${AGENT_SUBCOMMAND} --help`,
    `  ${PLUGIN_TYPE} ${AGENT_SUBCOMMAND} doctor|uninstall  the agent's other commands`,
    '',
  ].join('\n');
}

/** `name` is the basename of argv[0] (the name the executable was started by, symlinks unresolved). */
export function chooseRole(name: string, args: readonly string[], env: Readonly<Record<string, string | undefined>>): Role {
  if (env.CNI_COMMAND !== undefined) {
    if (name === PLUGIN_TYPE) return { role: 'plugin' };
    const why = name === AGENT_NAME ? `${AGENT_NAME} is the node agent, not a CNI plugin` : `this executable is the CNI plugin only when it is named ${PLUGIN_TYPE}, not ${JSON.stringify(name)}`;
    return { role: 'refuse', cni: true, message: `${why}: the network config's "type" must be "${PLUGIN_TYPE}"` };
  }
  if (name === AGENT_NAME) return { role: 'agent', args: [...args] };
  if (name !== PLUGIN_TYPE) {
    return { role: 'refuse', cni: false, message: `started as ${JSON.stringify(name)}: run it as ${PLUGIN_TYPE} (the CNI plugin, or \`${PLUGIN_TYPE} ${AGENT_SUBCOMMAND} ...\`) or as ${AGENT_NAME} (the node agent), e.g. through a symlink of that name` };
  }
  const [first, ...rest] = args;
  if (first === undefined) return { role: 'plugin' };
  if (first === AGENT_SUBCOMMAND) return { role: 'agent', args: rest };
  if (first === '--help' || first === '-h' || first === 'help') return { role: 'usage' };
  return { role: 'refuse', cni: false, message: `unknown command ${JSON.stringify(first)}: run \`${PLUGIN_TYPE} ${AGENT_SUBCOMMAND} ...\` for the node agent; the CNI plugin takes no arguments (CNI_COMMAND in the environment)` };
}
