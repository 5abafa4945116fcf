// bin/role.ts: which role the one executable plays, by the name it is started as, its arguments
// and CNI_COMMAND. The property that matters most: with CNI_COMMAND set (a runtime calling a
// plugin) the answer is never the agent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseRole, usage, type Role } from '../../../bin/role.ts';

const cni = { CNI_COMMAND: 'ADD' };

describe('chooseRole', () => {
  const cases: [string, string, string[], Record<string, string>, Role['role'], (RegExp | string[])?][] = [
    ['the runtime runs the plugin: no arguments, CNI_COMMAND', 'bridgeway', [], cni, 'plugin'],
    ['VERSION too', 'bridgeway', [], { CNI_COMMAND: 'VERSION' }, 'plugin'],
    ['CNI_COMMAND set but empty is still a runtime calling', 'bridgeway', [], { CNI_COMMAND: '' }, 'plugin'],
    ['a plugin invocation with "agent" as argument stays the plugin', 'bridgeway', ['agent'], cni, 'plugin'],
    ['the image\'s symlink runs the agent with every argument', 'bridgeway-agent', ['--once', 'doctor'], {}, 'agent', ['--once', 'doctor']],
    ['bridgeway-agent without arguments runs the agent', 'bridgeway-agent', [], {}, 'agent', []],
    ['bridgeway agent ... runs the agent with the rest', 'bridgeway', ['agent', 'uninstall', '--node-name', 'n'], {}, 'agent', ['uninstall', '--node-name', 'n']],
    ['bridgeway with no arguments and no CNI_COMMAND: the plugin, which reports the missing variable', 'bridgeway', [], {}, 'plugin'],
    ['bridgeway --help', 'bridgeway', ['--help'], {}, 'usage'],
    ['bridgeway -h', 'bridgeway', ['-h'], {}, 'usage'],
    ['an unknown subcommand', 'bridgeway', ['agnet'], {}, 'refuse', /unknown command "agnet".*bridgeway agent/],
    ['the agent\'s commands without "agent"', 'bridgeway', ['doctor'], {}, 'refuse', /unknown command "doctor"/],
    ['an unknown name', 'cni-plugin', [], {}, 'refuse', /started as "cni-plugin".*bridgeway-agent/],
    ['an unknown name with arguments', 'bw', ['agent'], {}, 'refuse', /started as "bw"/],
    ['a runtime calling the agent\'s name gets a CNI error, never the agent', 'bridgeway-agent', [], cni, 'refuse', /bridgeway-agent is the node agent, not a CNI plugin/],
    ['a runtime calling an unknown name gets a CNI error', 'bridgeway-v2', [], cni, 'refuse', /named bridgeway, not "bridgeway-v2"/],
  ];
  for (const [name, argv0, args, env, role, detail] of cases) {
    test(name, () => {
      const chosen = chooseRole(argv0, args, env);
      assert.equal(chosen.role, role);
      if (chosen.role === 'agent') assert.deepEqual(chosen.args, detail);
      if (chosen.role === 'refuse') {
        assert.match(chosen.message, detail as RegExp);
        assert.equal(chosen.cni, 'CNI_COMMAND' in env, 'answered as a plugin exactly when a runtime is calling');
      }
    });
  }

  test('no name and argument list with CNI_COMMAND set is ever the agent', () => {
    for (const argv0 of ['bridgeway', 'bridgeway-agent', 'agent', '', 'node']) {
      for (const args of [[], ['agent'], ['agent', '--once'], ['--help'], ['x']]) {
        assert.notEqual(chooseRole(argv0, args, cni).role, 'agent', `${argv0} ${args.join(' ')}`);
      }
    }
  });

  test('the usage names both ways to run the agent', () => {
    assert.match(usage(), /bridgeway agent \[flags\]/);
    assert.match(usage(), /bridgeway-agent \[flags\]/);
  });
});
