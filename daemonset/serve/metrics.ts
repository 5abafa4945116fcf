// A tiny Prometheus text-format registry: counters and gauges with optional labels.
// (prom-client would pull in far more than the handful of series the agent exposes.)

type Labels = Record<string, string>;

interface Series {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, number>;
}

function labelKey(labels: Labels = {}): string {
  const parts = Object.keys(labels)
    .sort()
    .map((key) => `${key}="${labels[key]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private readonly series = new Map<string, Series>();
  private readonly collectors: (() => void)[] = [];

  private get(name: string, type: Series['type'], help: string): Series {
    let series = this.series.get(name);
    if (!series) {
      series = { help, type, values: new Map() };
      this.series.set(name, series);
    }
    return series;
  }

  counter(name: string, help: string) {
    const series = this.get(name, 'counter', help);
    return {
      inc: (labels?: Labels, by = 1) => {
        const key = labelKey(labels);
        series.values.set(key, (series.values.get(key) ?? 0) + by);
      },
    };
  }

  gauge(name: string, help: string) {
    const series = this.get(name, 'gauge', help);
    return {
      set: (value: number, labels?: Labels) => series.values.set(labelKey(labels), value),
      /** Replaces every labelled value at once (e.g. the set of unreachable peers). */
      reset: () => series.values.clear(),
    };
  }

  /**
   * Runs `fn` before every render, for values read when they are asked for rather than kept
   * current (prom-client's `collect`): e.g. the node's sysctls (host/prerequisites.ts).
   */
  collect(fn: () => void): void {
    this.collectors.push(fn);
  }

  /** The Prometheus text exposition format. */
  render(): string {
    for (const collect of this.collectors) collect();
    const lines: string[] = [];
    for (const [name, series] of this.series) {
      lines.push(`# HELP ${name} ${series.help}`, `# TYPE ${name} ${series.type}`);
      for (const [labels, value] of series.values) lines.push(`${name}${labels} ${value}`);
    }
    return lines.join('\n') + '\n';
  }
}
