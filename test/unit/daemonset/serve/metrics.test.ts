// serve/metrics.ts: the Prometheus text format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../../daemonset/serve/metrics.ts';
test('metrics render in the Prometheus text format', () => {
  const m = new Metrics();
  m.counter('x_total', 'X.').inc({ result: 'ok' });
  m.counter('x_total', 'X.').inc({ result: 'ok' }, 2);
  m.gauge('y', 'Y.').set(1.5);
  assert.equal(m.render(), '# HELP x_total X.\n# TYPE x_total counter\nx_total{result="ok"} 3\n# HELP y Y.\n# TYPE y gauge\ny 1.5\n');
});
