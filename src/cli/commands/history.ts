/** `history <credential>`: past rotations from the audit log, plus runs Temporal ended on its own. */
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { RotatorConfig } from '../../config';
import { formatHistory, rotationHistory, type RotationHistoryEntry } from '../../history';
import { failureCause } from '../../rotation-view';
import { connectClient } from '../../runtime';
import type { AuditRecord } from '../../store/types';
import { rotationWorkflowId } from '../../shared/constants';
import { withStore } from '../context';
import { exitCodeFor } from '../exit-codes';

export function registerHistoryCommand(program: Command): void {
  program
    .command('history <credential>')
    .description(
      'past rotations of a credential: outcome, strategy, versions, duration, who (from the audit log)',
    )
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts: { json?: boolean }) => {
      await withStore(async (store, cfg) => {
        await store.getDefinition(credentialId); // unknown credential → clear error and exit code
        const entries = await withTemporalRuns(cfg, credentialId, await store.listAudit(credentialId));
        console.log(opts.json ? JSON.stringify(entries, null, 2) : formatHistory(entries));
        const lastOutcome = entries[entries.length - 1]?.outcome;
        process.exitCode = exitCodeFor({
          outcome: lastOutcome === 'running' ? undefined : lastOutcome,
          phase: lastOutcome ?? '',
        });
      });
    });
}

/**
 * The audit's rotations, completed from Temporal: runs made by `temporal
 * workflow reset` join the rotation they were reset from, and runs Temporal
 * ended without the workflow writing its closing audit record (terminated,
 * timed out, cancelled) get their outcome and cause from Temporal's
 * visibility. Best effort: without Temporal, the audit alone.
 */
async function withTemporalRuns(
  cfg: RotatorConfig,
  credentialId: string,
  audit: AuditRecord[],
): Promise<RotationHistoryEntry[]> {
  let client: Client;
  try {
    client = await connectClient(cfg);
  } catch {
    console.error('note: Temporal not reachable; runs it ended (terminated, timed out) are not shown');
    return rotationHistory(audit);
  }
  try {
    const runs = await runsOf(client, rotationWorkflowId(credentialId));
    const entries = rotationHistory(audit, new Map(runs.map((r) => [r.runId, r.originalRunId])));
    await mergeEndedRuns(client, runs, entries);
    return entries;
  } catch (err) {
    // Best effort: e.g. runs encrypted with codec keys this CLI does not hold.
    console.error(
      `note: runs ended by Temporal not shown (${err instanceof Error ? err.message : String(err)})`,
    );
    return rotationHistory(audit);
  } finally {
    await client.connection.close();
  }
}

interface Run {
  workflowId: string;
  runId: string;
  /** The run this one was reset from (itself when it was started, not reset). */
  originalRunId: string;
  status: string;
  startTime: Date;
  closeTime?: Date;
}

/** Every run of the rotation workflow, with the run each was reset from (its started event; no payload decoded). */
async function runsOf(client: Client, workflowId: string): Promise<Run[]> {
  const query = `WorkflowId = '${workflowId.replace(/'/g, "\\'")}'`;
  const runs: Run[] = [];
  for await (const w of client.workflow.list({ query })) {
    const first = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: w.workflowId, runId: w.runId },
      maximumPageSize: 1,
    });
    const started = first.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
    runs.push({
      workflowId: w.workflowId,
      runId: w.runId,
      originalRunId: started?.originalExecutionRunId || w.runId,
      status: w.status.name,
      startTime: w.startTime,
      closeTime: w.closeTime,
    });
  }
  return runs;
}

const ENDED_BY_TEMPORAL = ['TERMINATED', 'TIMED_OUT', 'CANCELLED'];

/** Adds (or completes) the entries of runs Temporal ended, in start order. */
async function mergeEndedRuns(client: Client, runs: Run[], entries: RotationHistoryEntry[]): Promise<void> {
  const byRun = new Map(entries.map((e) => [e.runId, e]));
  runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  for (const w of runs) {
    const entry = w.originalRunId === w.runId ? undefined : byRun.get(w.originalRunId);
    // A reset run that wrote no audit record yet is still one of its rotation's runs.
    if (entry && !(entry.runs ??= [entry.runId]).includes(w.runId)) entry.runs.push(w.runId);
  }
  for (const w of runs) {
    if (!ENDED_BY_TEMPORAL.includes(w.status)) continue;
    const entry = byRun.get(w.originalRunId);
    if (entry && entry.outcome !== 'running' && entry.outcome !== 'needs-operator') continue;
    // A run that a reset replaced (terminated by the reset) did not end its rotation.
    if (entry?.runs && entry.runs[entry.runs.length - 1] !== w.runId) continue;
    const cause = await endCause(client, w.workflowId, w.runId, w.status);
    const outcome = w.status.toLowerCase().replace('_', '-');
    if (entry) Object.assign(entry, { outcome, error: cause, endedAt: w.closeTime?.toISOString() });
    else
      entries.push({
        runId: w.runId,
        startedAt: w.startTime.toISOString(),
        endedAt: w.closeTime?.toISOString(),
        outcome,
        error: cause,
      });
  }
  entries.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** Why Temporal ended the run (its failure's cause), or the status name when it has none. */
async function endCause(client: Client, workflowId: string, runId: string, status: string): Promise<string> {
  try {
    await client.workflow.getHandle(workflowId, runId, { followRuns: false }).result();
    return status.toLowerCase();
  } catch (err) {
    return failureCause(err);
  }
}
