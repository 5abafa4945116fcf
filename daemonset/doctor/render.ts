// Pure: the findings as text (one line each, the fix after "fix:") or as one JSON document.
import type { Finding, Severity } from './finding.ts';

export interface DoctorReport {
  node: string;
  mode: 'kubernetes' | 'standalone';
  /** True when nothing FAILs (the exit status is 0). */
  healthy: boolean;
  counts: Record<Severity, number>;
  findings: Finding[];
}

export function makeReport(node: string, mode: DoctorReport['mode'], findings: Finding[]): DoctorReport {
  const counts: Record<Severity, number> = { OK: 0, WARN: 0, FAIL: 0 };
  for (const f of findings) counts[f.severity]++;
  return { node, mode, healthy: counts.FAIL === 0, counts, findings };
}

export function renderText(report: DoctorReport): string {
  const lines = report.findings.map((f) => `${f.severity.padEnd(4)} ${f.object}: ${f.detail}${f.fix ? `  fix: ${f.fix}` : ''}`);
  const { OK, WARN, FAIL } = report.counts;
  lines.push(`${report.node} (${report.mode} mode): ${OK} OK, ${WARN} WARN, ${FAIL} FAIL`);
  return lines.join('\n') + '\n';
}

export function renderJson(report: DoctorReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
