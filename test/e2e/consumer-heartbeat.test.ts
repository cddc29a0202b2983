import { beforeEach, describe, expect, it } from 'vitest';
import { escapeIdentifier } from 'pg';
import { DEFAULT_HEARTBEAT_PERIOD_MS, HeartbeatReporter } from '../../src/consumer/heartbeat';
import { StoreSource } from '../../src/consumer/store-source';
import type { RotationResult, RotationStatus } from '../../src/shared/types';
import { uniqueCredentialId } from '../helpers/rotation';
import { services, uniqueSuffix } from '../helpers/services';
import { withPgRig } from '../helpers/with-pg-rig';

// How much history heartbeats cost a rotation, measured on the dev server:
// the same rotation without consumers, with consumers that signal every
// period, and with consumers that confirm by query first. The measured cost
// per signal is extrapolated to a 24 h grace at the default period.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CONSUMERS = 3;
const PERIOD_MS = 250;
const GRACE_MS = 4_000;

describe('heartbeat history cost on a real rotation', () => {
  const t = withPgRig();
  let credentialId: string;

  beforeEach(async () => {
    const app = await t.pg.createLogin('app', 'initial-Pw-1');
    await t.pg.admin.query(`CREATE TABLE items (id int)`);
    await t.pg.admin.query(`GRANT SELECT ON items TO ${escapeIdentifier(app)}`);
    const adminId = uniqueCredentialId('admin');
    credentialId = uniqueCredentialId('hb-app');
    const where = {
      engine: 'postgres' as const,
      host: services.postgres.host,
      port: services.postgres.port,
      database: t.pg.database,
    };
    await t.rig.addCredential(
      { id: adminId, ...where },
      { username: services.postgres.user, password: services.postgres.password },
    );
    await t.rig.addCredential(
      // The slow check gives consumers time to announce themselves before promote.
      { id: credentialId, ...where, adminCredentialId: adminId, verifyChecks: ['SELECT pg_sleep(0.5)'] },
      { username: app, password: 'initial-Pw-1' },
    );
  });

  async function rotateWith(consumers: number, confirmByQuery: boolean) {
    const prefix = `hb-${uniqueSuffix()}`;
    const members = Array.from({ length: consumers }, (_, i) => {
      const source = new StoreSource({ store: t.rig.store, credentialId, ttlMs: 500 });
      const reporter = new HeartbeatReporter({
        client: t.rig.client,
        credentialId,
        consumerId: `${prefix}-${i}`,
        periodMs: PERIOD_MS,
        confirmByQuery,
      });
      source.subscribe((c) => reporter.setVersion(c.version));
      reporter.start();
      return { source, reporter };
    });
    await Promise.all(members.map((m) => m.source.current()));
    await sleep(2 * PERIOD_MS);
    const handle = await t.rig.start({
      credentialId,
      graceMs: GRACE_MS,
      drainTimeoutMs: 0,
      migrationTimeoutMs: 30_000,
    });
    const result = (await handle.result()) as RotationResult;
    for (const m of members) {
      await m.reporter.stop();
      await m.source.close();
    }
    const events = (await handle.fetchHistory()).events ?? [];
    const phases = ((await handle.describe()).memo?.status as RotationStatus).phases;
    const migrate = phases.find((p) => p.phase === 'migrate')!;
    return {
      migrateMs: Date.parse(migrate.endedAt!) - Date.parse(migrate.startedAt),
      outcome: result.outcome,
      total: events.length,
      signals: events.filter((e) => e.workflowExecutionSignaledEventAttributes).length,
      stats: members.map((m) => m.reporter.stats),
    };
  }

  it('signalling every period grows history with the grace; confirming by query costs ~2 signals per consumer', async () => {
    const baseline = await rotateWith(0, false);
    const everyPeriod = await rotateWith(CONSUMERS, false);
    const confirmed = await rotateWith(CONSUMERS, true);
    for (const r of [baseline, everyPeriod, confirmed]) expect(r.outcome).toBe('rotated');
    expect(baseline.signals).toBe(0);

    // Every period for the whole rotation (≈ grace / period per consumer, plus migrate and the lead-in).
    expect(everyPeriod.signals).toBeGreaterThanOrEqual(CONSUMERS * (GRACE_MS / PERIOD_MS) * 0.6);
    // Announce (old version) + migrated (new version) per consumer, plus one per period while
    // migrate waits on them (a consumer silent there would be counted as gone) — not per grace.
    const migratePeriods = Math.ceil(confirmed.migrateMs / PERIOD_MS) + 1;
    expect(confirmed.signals).toBeLessThanOrEqual(CONSUMERS * (2 + migratePeriods) + 1);
    expect(confirmed.signals).toBeLessThan(everyPeriod.signals / 2);
    expect(confirmed.signals).toBeGreaterThanOrEqual(CONSUMERS);
    expect(confirmed.stats.every((s) => s.skippedRecorded > 0 && s.errors === 0)).toBe(true);

    const eventsPerSignal = (everyPeriod.total - baseline.total) / everyPeriod.signals;
    expect(eventsPerSignal).toBeGreaterThanOrEqual(1);
    expect(eventsPerSignal).toBeLessThanOrEqual(4.5);
    const perConsumerDay = Math.ceil((24 * 3600_000) / DEFAULT_HEARTBEAT_PERIOD_MS) + 1;
    console.log(
      `heartbeat history: baseline ${baseline.total} events; every ${PERIOD_MS} ms: +${everyPeriod.total - baseline.total} events for ${everyPeriod.signals} signals ` +
        `(${eventsPerSignal.toFixed(2)} events/signal); confirm-by-query: +${confirmed.total - baseline.total} events for ${confirmed.signals} signals. ` +
        `Extrapolated 24 h grace at ${DEFAULT_HEARTBEAT_PERIOD_MS / 1000} s, every period: ${perConsumerDay} signals ≈ ${Math.round(perConsumerDay * eventsPerSignal)} events per consumer ` +
        `(10 consumers ≈ ${Math.round(10 * perConsumerDay * eventsPerSignal)}); confirm-by-query: ≈ ${Math.round(((confirmed.total - baseline.total) / CONSUMERS) * 10) / 10} events per consumer, independent of grace.`,
    );
  });
});
