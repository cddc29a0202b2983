/**
 * Fault injection on real PostgreSQL and real Temporal, part 2 (part 1, worker
 * and server faults: faults.test.ts). Each test checks the invariants that
 * matter after the fault: one CURRENT version that logs in, no PENDING left,
 * no orphan login, the old credential revoked or (after a failure) untouched.
 *
 * - Database down: a TCP proxy between the engine and PostgreSQL refuses
 *   connections (5 s during apply; for good before verify, restored once the
 *   bounded retries and the compensate state were seen, to keep the test short).
 * - Concurrent starts, hostile login names, unknown credential.
 */
import { describe, expect, it } from 'vitest';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { escapeIdentifier } from 'pg';
import { finishGraceUpdate } from '../../src/shared/messages';
import type { FleetSummary, RotationInput, RotationResult } from '../../src/shared/types';
import { queryStatus, sleep, TcpProxy, waitForPhase } from '../helpers/faults';
import { addPgApp, eventually, pgLogsIn } from '../helpers/pg-rig';
import { createRotationRig, uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { services } from '../helpers/services';
import {
  withFaultRig,
  expectRotatedCleanly,
  expectUntouched,
  prefixRoles,
  versions,
} from '../helpers/fault-rig';

const log = (line: string) => console.log(`[faults] ${line}`);

/** "Name[type]: message" of an error and its causes (activity failures wrap the activity's error). */
function failureChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const type = (e as { type?: unknown }).type;
    parts.push(`${e.name}${typeof type === 'string' ? `[${type}]` : ''}: ${e.message}`);
  }
  return parts.join(' <- ');
}

const f = withFaultRig('faults-db');

describe('database unreachable (TCP proxy between engine and PostgreSQL)', () => {
  async function setupBehindProxy(name: string, verifyChecks: string[] = []) {
    const proxy = await TcpProxy.start(services.postgres.host, services.postgres.port);
    f.cleanups.push(() => proxy.close());
    // The proxy is the same server under another port: the admin may be used there.
    const { rig, adminId } = await f.newRig(undefined, [{ host: '127.0.0.1', port: proxy.port }]);
    const app = await addPgApp(rig, f.pg, adminId, name, {
      definition: { host: '127.0.0.1', port: proxy.port, verifyChecks },
    });
    return { rig, proxy, app };
  }

  /** Highest attempt per activity seen in flight, sampled while `until` is false. */
  function sampleAttempts(handle: WorkflowHandle): {
    seen: Record<string, number>;
    stop: () => Promise<void>;
  } {
    const seen: Record<string, number> = {};
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const d = await handle.describe().catch(() => undefined);
        for (const a of d?.raw.pendingActivities ?? []) {
          const name = a.activityType?.name ?? '?';
          seen[name] = Math.max(seen[name] ?? 0, a.attempt ?? 0);
        }
        await sleep(100);
      }
    })();
    return {
      seen,
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }

  it('down ~5 s during apply: the rotation completes or compensates cleanly', async () => {
    const { rig, proxy, app } = await setupBehindProxy('proxya');
    const rolesBefore = await prefixRoles(f.pg);
    const handle = f.track(await rig.start({ credentialId: app.id, graceMs: 0, drainTimeoutMs: 0 }));
    const attempts = sampleAttempts(handle);
    const phase = await waitForPhase(handle, ['create-pending', 'apply']);
    proxy.refuse();
    const downAt = Date.now();
    await sleep(5000);
    proxy.pass();
    const result = (await handle.result()) as RotationResult;
    await attempts.stop();
    log(
      `DB down in ${phase} for 5 s: outcome ${result.outcome} ${Date.now() - downAt - 5000} ms after it came back; ` +
        `refused ${proxy.stats.refused} connections, cut ${proxy.stats.cut}; attempts ${JSON.stringify(attempts.seen)}; error ${result.error ?? '-'}`,
    );

    expect(proxy.stats.refused).toBeGreaterThan(0);
    expect(['rotated', 'failed']).toContain(result.outcome);
    if (result.outcome === 'rotated') await expectRotatedCleanly(rig, f.pg, app);
    else await expectUntouched(rig, f.pg, app, rolesBefore);
  }, 90_000);

  it('down for good before verify: bounded retries, a visible compensate state, the old login keeps working', async () => {
    // A slow verification check makes the verify phase long enough to cut it reliably.
    const { rig, proxy, app } = await setupBehindProxy('proxyb', ['SELECT pg_sleep(0.5)']);
    const rolesBefore = await prefixRoles(f.pg);
    const handle = f.track(await rig.start({ credentialId: app.id, graceMs: 0, drainTimeoutMs: 0 }));
    const attempts = sampleAttempts(handle);
    await waitForPhase(handle, ['verify']);
    proxy.refuse();
    const downAt = Date.now();

    // verify has 5 attempts (1 s, 2 s, 4 s, 8 s backoff): it must give up and start compensating.
    const compensating = await eventually(async () => {
      const st = await queryStatus(handle, 1000);
      return st?.phase === 'compensate' && st.lastError ? st : undefined;
    }, 45_000);
    const gaveUpMs = Date.now() - downAt;
    // The undo of apply cannot reach the server either; it retries with a bounded policy, visibly.
    const undo = await eventually(async () => {
      const d = await handle.describe();
      const a = d.raw.pendingActivities?.find((p) => p.activityType?.name === 'restore');
      return a && (a.attempt ?? 0) >= 2 ? a : undefined;
    }, 15_000);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // Never both invalid: the old credential still logs in (directly, not through the dead proxy).
    expect(await pgLogsIn(f.pg.database, app.login, app.password)).toBe(true);
    expect(await rig.store.getVersion(app.id, 'CURRENT')).toMatchObject({ version: 1 });
    log(
      `DB down before verify: verify gave up after ${gaveUpMs} ms with lastError "${compensating.lastError}"; ` +
        `restore attempt ${undo.attempt} of max ${undo.maximumAttempts}, last failure "${undo.lastFailure?.message ?? '-'}"`,
    );
    expect(compensating.lastError).toMatch(/TransientError|terminated|connect/i);
    expect(undo.maximumAttempts).toBe(20);

    // Undo would keep retrying for ~15 min (20 attempts, up to 1 min apart); shorten it: the database comes back.
    proxy.pass();
    const result = (await handle.result()) as RotationResult;
    await attempts.stop();
    log(
      `DB down before verify: restored after ${Date.now() - downAt} ms; outcome ${result.outcome}; ` +
        `attempts ${JSON.stringify(attempts.seen)}; refused ${proxy.stats.refused}`,
    );
    expect(result.outcome).toBe('failed');
    // From history, not from sampling: the started event of the last verify attempt carries its number.
    const events = (await handle.fetchHistory()).events ?? [];
    const typeOf = new Map(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name]),
    );
    const verifyAttempts = events
      .map((e) => e.activityTaskStartedEventAttributes)
      .filter((a) => a && typeOf.get(String(a.scheduledEventId)) === 'verifyPending')
      .map((a) => a!.attempt);
    expect(verifyAttempts).toEqual([5]);
    await expectUntouched(rig, f.pg, app, rolesBefore);
  }, 120_000);
});

describe('two starts of the same credential at once', () => {
  it('exactly one rotation runs; the other starts are refused and the fleet skips it', async () => {
    const { rig, adminId } = await f.newRig();
    const app = await addPgApp(rig, f.pg, adminId, 'twice');
    const other = await addPgApp(rig, f.pg, adminId, 'other');
    const input: RotationInput = { credentialId: app.id, graceMs: 60_000, drainTimeoutMs: 0 };
    const starts = await Promise.allSettled(Array.from({ length: 5 }, () => rig.start(input)));
    const won = starts.filter((s): s is PromiseFulfilledResult<WorkflowHandle> => s.status === 'fulfilled');
    const refused = starts.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(refused).toHaveLength(4);
    for (const r of refused) expect(r.reason).toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    const handle = f.track(won[0]!.value);

    const summary = (await rig.client.workflow.execute('rotateFleet', {
      args: [
        {
          selector: { ids: [app.id, other.id] },
          rotation: { graceMs: 0, drainTimeoutMs: 0 },
          concurrency: 2,
        },
      ],
      taskQueue: rig.taskQueue,
      workflowId: `fleet/${app.id}`,
    })) as FleetSummary;
    expect(summary.skipped.map((s) => s.credentialId)).toEqual([app.id]);
    expect(summary.rotated).toEqual([other.id]);

    await handle.executeUpdate(finishGraceUpdate, { args: [{}] });
    expect(((await handle.result()) as RotationResult).outcome).toBe('rotated');
    await expectRotatedCleanly(rig, f.pg, app);
    const started = (await rig.store.listAudit(app.id)).filter((a) => a.action === 'rotation-started');
    expect(started).toHaveLength(1);
  }, 90_000);
});

describe('hostile login names through the workflow (real activities)', () => {
  /** Registers an existing login (or just a name) as a credential. */
  async function register(r: RotationRig, adminId: string, login: string, password: string) {
    const id = uniqueCredentialId('pg-hostile');
    await r.addCredential(
      {
        id,
        engine: 'postgres',
        host: services.postgres.host,
        port: services.postgres.port,
        database: f.pg.database,
        adminCredentialId: adminId,
        baseUsername: login,
      },
      { username: login, password },
    );
    return { id, login, password };
  }

  /** The test prefix padded with `ch` (1 or 2 bytes) to exactly `bytes` bytes of UTF-8. */
  function nameOfBytes(bytes: number, ch: string): string {
    let name = f.pg.prefix;
    while (Buffer.byteLength(name) + Buffer.byteLength(ch) <= bytes) name += ch;
    return name.padEnd(name.length + bytes - Buffer.byteLength(name), 'x');
  }

  async function createLogin(name: string, password: string): Promise<string> {
    const login = await f.pg.createLogin(name, password);
    await f.pg.admin.query(`CREATE TABLE IF NOT EXISTS public.items (id int)`);
    await f.pg.admin.query(`GRANT SELECT, INSERT ON public.items TO ${escapeIdentifier(login)}`);
    return login;
  }

  it('quotes, backslashes, ; % @ spaces and unicode rotate correctly', async () => {
    const { rig, adminId } = await f.newRig();
    const names = [
      `q'uote`,
      `d"quote`,
      `back\\slash`,
      `semi;colon`,
      `pct%_under`,
      `at@host`,
      `sp ace`,
      `x"; DROP ROLE postgres; --`,
      `ünï-cödé-日本`,
      `MixedCase`,
    ];
    // 61 bytes: with "_b" exactly at PostgreSQL's 63-byte limit.
    const longest = 'l'.repeat(61 - Buffer.byteLength(f.pg.prefix));
    const apps = [];
    for (const [i, n] of [...names, longest].entries()) {
      const login = await createLogin(n, `pw-${i}-Aa1`);
      apps.push(await register(rig, adminId, login, `pw-${i}-Aa1`));
    }
    expect(Buffer.byteLength(apps[apps.length - 1]!.login)).toBe(61);
    const results = await Promise.all(
      apps.map((a) => rig.rotate({ credentialId: a.id, graceMs: 0, drainTimeoutMs: 0 })),
    );
    for (const [i, r] of results.entries()) {
      expect(r, apps[i]!.login).toMatchObject({ outcome: 'rotated' });
      await expectRotatedCleanly(rig, f.pg, apps[i]!);
    }
    // Nothing else was created or left behind: exactly the new logins.
    expect((await prefixRoles(f.pg)).sort()).toEqual(apps.map((a) => `${a.login}_b`).sort());
  }, 120_000);

  it('names PostgreSQL cannot hold fail before changing anything, with an error naming the problem', async () => {
    const { rig, adminId } = await f.newRig();
    // 62 bytes exists on the server, but the second slot "<base>_b" would be 64 bytes.
    const login62 = await createLogin('m'.repeat(62 - Buffer.byteLength(f.pg.prefix)), 'pw-62-Aa1');
    expect(Buffer.byteLength(login62)).toBe(62);
    // 64 bytes cannot exist at all (PostgreSQL would truncate it); the store holds such names anyway.
    // Bytes count, not characters: the unicode one has far fewer than 63 characters.
    const cases = [
      {
        app: await register(rig, adminId, login62, 'pw-62-Aa1'),
        expect:
          /\[UnsafeIdentifierError\]: new login "t_[^"]*m_b": login name is 64 bytes; PostgreSQL identifiers hold at most 63/,
      },
      {
        app: await register(rig, adminId, nameOfBytes(64, 'x'), 'pw-64-Aa1'),
        expect: /\[UnsafeIdentifierError\]: login name is 64 bytes/,
      },
      {
        app: await register(rig, adminId, nameOfBytes(64, 'é'), 'pw-64-Aa1'),
        expect: /\[UnsafeIdentifierError\]: login name is 64 bytes/,
      },
    ];
    for (const c of cases) {
      const roles = await prefixRoles(f.pg);
      const before = await rig.store.listVersions(c.app.id);
      const handle = f.track(await rig.start({ credentialId: c.app.id, graceMs: 0, drainTimeoutMs: 0 }));
      let message = '';
      try {
        const r = (await handle.result()) as RotationResult;
        message = `${r.outcome}: ${r.error ?? ''}`;
      } catch (err) {
        expect(err).toBeInstanceOf(WorkflowFailedError);
        message = failureChain(err);
      }
      log(`hostile name of ${Buffer.byteLength(c.app.login)} bytes: ${message}`);
      log(
        `  store after: ${JSON.stringify(await versions(rig, c.app.id))}, phases ${JSON.stringify(((await queryStatus(handle, 5000))?.phases ?? []).map((p) => p.phase))}`,
      );
      expect(message).toMatch(c.expect);
      expect(await prefixRoles(f.pg)).toEqual(roles);
      expect(await rig.store.listVersions(c.app.id)).toEqual(before);
      const phases = ((await queryStatus(handle, 5000))?.phases ?? []).map((p) => p.phase);
      expect(phases, 'failed before changing anything').not.toContain('create-pending');
    }
  }, 120_000);

  it('an unknown credential fails in preflight with UnknownCredentialError', async () => {
    const rig = (f.rig = await createRotationRig(f.env));
    const handle = f.track(await rig.start({ credentialId: 'no/such-credential', graceMs: 0 }));
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureChain(err)).toMatch(/\[UnknownCredentialError\]: unknown credential "no\/such-credential"/);
  });
});
