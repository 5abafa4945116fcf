// Stands in for client-node's generated ObjectSerializer in the agent's bundle (scripts/build.ts).
// The real one imports all ~800 generated model classes, built at load time; the agent reads API
// responses as plain JSON and never converts them. The one caller the agent runs is ListWatch,
// which passes label and field selectors (strings) through serialize(); anything else would be a
// bug: fail loudly.
export class ObjectSerializer {
  static serialize(data: unknown, type: string): unknown {
    return passString(data, type, 'serialize');
  }

  static deserialize(data: unknown, type: string): unknown {
    return passString(data, type, 'deserialize');
  }
}

function passString(data: unknown, type: string, what: string): unknown {
  if (type === 'string') return data;
  throw new Error(`ObjectSerializer.${what}(${type}) is not in bridgeway-agent: it reads API objects as plain JSON`);
}
