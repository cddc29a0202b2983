import type { AuditRecord } from './store/types';

/** One past rotation, assembled from its audit records (no secrets there to begin with). */
export interface RotationHistoryEntry {
  runId: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  outcome: string;
  strategy?: string;
  fromVersion?: number;
  toVersion?: number;
  requestedBy?: string;
  reason?: string;
  emergency?: boolean;
  /** Started outside the rotation window by an explicit override. */
  outsideWindow?: boolean;
  error?: string;
}

/**
 * Groups a credential's audit records into rotations: a "rotation-started"
 * record opens one (keyed by workflow run id), "rotation-<outcome>" closes it.
 * A rotation without a closing record is still running (or its worker died).
 */
export function rotationHistory(records: AuditRecord[]): RotationHistoryEntry[] {
  const byRun = new Map<string, RotationHistoryEntry>();
  const overridden = new Set<string>(); // runs whose preflight recorded a window override
  for (const r of records) {
    const d = r.details ?? {};
    const runId = typeof d.runId === 'string' ? d.runId : undefined;
    if (runId && r.action === 'window-override') overridden.add(runId);
    if (!runId || !r.action.startsWith('rotation-')) continue;
    if (r.action === 'rotation-started') {
      byRun.set(runId, {
        runId,
        startedAt: r.at,
        outcome: 'running',
        strategy: str(d.strategy),
        fromVersion: num(d.fromVersion),
        toVersion: num(d.toVersion),
        requestedBy: str(d.by),
        reason: str(d.reason),
        emergency: d.emergency === true,
        ...(overridden.has(runId) ? { outsideWindow: true } : {}),
      });
      continue;
    }
    if (r.action === 'rotation-planned') continue;
    let entry = byRun.get(runId);
    if (!entry) {
      // A run that failed in preflight writes only its closing record.
      entry = { runId, startedAt: r.at, outcome: 'running', requestedBy: str(d.by), reason: str(d.reason) };
      byRun.set(runId, entry);
    }
    if (r.action === 'rotation-needs-operator' || r.action.startsWith('rotation-operator-')) {
      entry.outcome = r.action === 'rotation-operator-retry' ? 'running' : 'needs-operator';
      entry.error = str(d.error) ?? entry.error;
      continue;
    }
    entry.outcome = r.action.slice('rotation-'.length);
    entry.endedAt = r.at;
    entry.durationMs = Date.parse(r.at) - Date.parse(entry.startedAt);
    entry.error = str(d.error) ?? entry.error;
  }
  return [...byRun.values()].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

export function formatHistory(entries: RotationHistoryEntry[]): string {
  const rows = entries.map((e) =>
    [
      e.startedAt,
      e.outcome + (e.emergency ? ' (EMERGENCY)' : '') + (e.outsideWindow ? ' (OUTSIDE WINDOW)' : ''),
      e.strategy ?? '-',
      `v${e.fromVersion ?? '?'}→v${e.toVersion ?? '?'}`,
      e.durationMs === undefined ? '-' : `${Math.round(e.durationMs / 1000)}s`,
      e.requestedBy ?? '-',
      e.error ?? e.reason ?? '',
    ].join('\t'),
  );
  return ['started\toutcome\tstrategy\tversions\tduration\tby\treason/error', ...rows].join('\n');
}
