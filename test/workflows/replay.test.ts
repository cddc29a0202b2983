import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { encryptedDataConverter } from '../../src/codec';
import { REPO_ROOT } from '../helpers/services';
import { testKeyring, workflowBundle } from '../helpers/temporal';

/**
 * The replay corpus: histories of representative runs, recorded on the dev
 * server with the real activities by scripts/record-histories.ts, replayed
 * against the CURRENT workflow code (the bundle global-setup builds from
 * src/). A change that would break a running rotation — one in a 24 h grace
 * during a deploy — fails here. Fix the change (guard it with patched(), see
 * README "Upgrading"); never re-record to make this pass.
 */
const HISTORIES_DIR = join(REPO_ROOT, 'test', 'replay', 'histories');

/** Scenarios the corpus must keep covering (file names without .json). */
const REQUIRED = [
  'postgres-dual-user-rotated',
  'mysql-dual-password-rotated',
  'mysql-dual-user-rotated',
  'redis-dual-password-rotated',
  'redis-dual-user-rotated',
  'mongodb-dual-user-rotated',
  'abort-before-promote',
  'rollback-in-grace',
  'emergency',
  'admin-rotation',
  'fleet',
  'schedule-launcher',
  'dry-run',
];

/** Loads a history written by scripts/record-histories.ts (protobufjs JSON form). */
function loadHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.fromObject(
    JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')) as Record<string, unknown>,
  );
}

// Replay workers log every state change at INFO; keep warnings (a nondeterminism shows there too).
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // a runtime is installed already in this process
}

describe('replay corpus (test/replay/histories)', () => {
  it('every recorded history replays against the current workflow code without nondeterminism', async () => {
    // Top level: the current recordings; subdirectories: earlier releases (record-histories --archive).
    const files = readdirSync(HISTORIES_DIR, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files.length, 'an empty or shrunken corpus proves nothing').toBeGreaterThanOrEqual(10);
    expect(files).toEqual(expect.arrayContaining(REQUIRED.map((n) => `${n}.json`)));

    const histories = files.map((f) => ({ workflowId: f.replace(/\.json$/, ''), history: loadHistory(f) }));
    for (const { workflowId, history } of histories) {
      const last = history.events[history.events.length - 1]?.eventType;
      // Complete runs only: a replay of a closed history checks every decision the code makes.
      expect(String(temporal.api.enums.v1.EventType[last ?? 0]), workflowId).toMatch(
        /WORKFLOW_EXECUTION_(COMPLETED|FAILED)$/,
      );
    }

    const failures: string[] = [];
    const replayed: string[] = [];
    for await (const r of Worker.runReplayHistories(
      {
        workflowBundle: workflowBundle(), // the active mutant's, under mutation testing
        dataConverter: encryptedDataConverter(testKeyring()),
      },
      histories,
    )) {
      replayed.push(r.workflowId);
      if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
    }
    console.log(`replay corpus: ${replayed.length} histories replayed, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(replayed.sort()).toEqual(histories.map((h) => h.workflowId).sort());
  });
});
