import type { AuditRecord } from './store/types';

/** One past rotation, assembled from its audit records (no secrets there to begin with). */
export interface RotationHistoryEntry {
  /** The rotation's first run (a reset run keeps the rotation it was reset from). */
  runId: string;
  /** Every run of this rotation in order, when it has more than one (`temporal workflow reset`). */
  runs?: string[];
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
 *
 * `originalRun` maps a run made by `temporal workflow reset` to the run it
 * was reset from (Temporal keeps it as the started event's
 * originalExecutionRunId): its records belong to the same rotation, one entry
 * with all its runs, not a second rotation.
 */
export function rotationHistory(
  records: AuditRecord[],
  originalRun: ReadonlyMap<string, string> = new Map(),
): RotationHistoryEntry[] {
  const byRun = new Map<string, RotationHistoryEntry>();
  const overridden = new Set<string>(); // runs whose preflight recorded a window override
  for (const r of records) {
    const d = r.details ?? {};
    const ranAs = typeof d.runId === 'string' ? d.runId : undefined;
    const runId = ranAs === undefined ? undefined : (originalRun.get(ranAs) ?? ranAs);
    if (ranAs !== undefined && runId !== undefined && runId !== ranAs) {
      const entry = byRun.get(runId);
      if (entry && !(entry.runs ??= [runId]).includes(ranAs)) entry.runs.push(ranAs);
    }
    if (runId && r.action === 'window-override') overridden.add(runId);
    if (!runId || !r.action.startsWith('rotation-')) continue;
    if (r.action === 'rotation-started' && !byRun.has(runId)) {
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
      if (ranAs !== runId) entry.runs = [runId, ranAs!];
      byRun.set(runId, entry);
    }
    if (r.action === 'rotation-started') continue; // a reset run started again: same rotation
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
      e.outcome +
        (e.emergency ? ' (EMERGENCY)' : '') +
        (e.outsideWindow ? ' (OUTSIDE WINDOW)' : '') +
        (e.runs ? ` (reset: ${e.runs.length} runs)` : ''),
      e.strategy ?? '-',
      `v${e.fromVersion ?? '?'}→v${e.toVersion ?? '?'}`,
      e.durationMs === undefined ? '-' : `${Math.round(e.durationMs / 1000)}s`,
      e.requestedBy ?? '-',
      e.error ?? e.reason ?? '',
    ].join('\t'),
  );
  return ['started\toutcome\tstrategy\tversions\tduration\tby\treason/error', ...rows].join('\n');
}
