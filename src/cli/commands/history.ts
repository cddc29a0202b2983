/** `history <credential>`: past rotations from the audit log, plus runs Temporal ended on its own. */
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import type { RotatorConfig } from '../../config';
import { formatHistory, rotationHistory, type RotationHistoryEntry } from '../../history';
import { failureCause } from '../../rotation-view';
import { connectClient } from '../../runtime';
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
        const entries = rotationHistory(await store.listAudit(credentialId));
        await addRunsEndedByTemporal(cfg, credentialId, entries);
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
 * Runs that Temporal ended without the workflow writing its closing audit
 * record (terminated, timed out, cancelled): their outcome and cause come
 * from Temporal's visibility. Best effort: without Temporal, the audit alone.
 */
async function addRunsEndedByTemporal(
  cfg: RotatorConfig,
  credentialId: string,
  entries: RotationHistoryEntry[],
): Promise<void> {
  let client: Client;
  try {
    client = await connectClient(cfg);
  } catch {
    console.error('note: Temporal not reachable; runs it ended (terminated, timed out) are not shown');
    return;
  }
  try {
    await mergeEndedRuns(client, credentialId, entries);
  } catch (err) {
    // Best effort: e.g. runs encrypted with codec keys this CLI does not hold.
    console.error(
      `note: runs ended by Temporal not shown (${err instanceof Error ? err.message : String(err)})`,
    );
  } finally {
    await client.connection.close();
  }
}

const ENDED_BY_TEMPORAL = ['TERMINATED', 'TIMED_OUT', 'CANCELLED'];

/** Adds (or completes) the entries of runs Temporal ended, in start order. */
async function mergeEndedRuns(
  client: Client,
  credentialId: string,
  entries: RotationHistoryEntry[],
): Promise<void> {
  const byRun = new Map(entries.map((e) => [e.runId, e]));
  const query = `WorkflowId = '${rotationWorkflowId(credentialId).replace(/'/g, "\\'")}'`;
  for await (const w of client.workflow.list({ query })) {
    if (!ENDED_BY_TEMPORAL.includes(w.status.name)) continue;
    const entry = byRun.get(w.runId);
    if (entry && entry.outcome !== 'running' && entry.outcome !== 'needs-operator') continue;
    const cause = await endCause(client, w.workflowId, w.runId, w.status.name);
    const outcome = w.status.name.toLowerCase().replace('_', '-');
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
