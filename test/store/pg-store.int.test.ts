/**
 * The credential-store contract against real PostgreSQL (a fresh database per
 * test), plus what only the postgres backend has: several pools/workers
 * racing on row locks, schema creation by concurrent first users, quoting.
 */
import { randomBytes } from 'node:crypto';
import { escapeIdentifier } from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreStateError } from '../../src/errors';
import { openStore, PgStore, type ManagedCredentialStore } from '../../src/store';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { services } from '../helpers/services';
import { cipherK1, defineStoreSuite, type StoreHarness } from '../helpers/store-contract';

function poolConfig(database: string) {
  return {
    host: services.postgres.host,
    port: services.postgres.port,
    user: services.postgres.user,
    password: services.postgres.password,
    database,
    max: 4,
  };
}

async function pgHarness(schema?: string): Promise<StoreHarness & { ns: PgNamespace }> {
  const ns = await freshPg();
  const opened: ManagedCredentialStore[] = [];
  const s = escapeIdentifier(schema ?? 'rotator');
  return {
    ns,
    async open(cipher = cipherK1) {
      // Each instance has its own pool, like separate workers.
      const store = await openStore(
        { backend: 'postgres', pool: poolConfig(ns.database), ...(schema ? { schema } : {}) },
        cipher,
      );
      opened.push(store);
      return store;
    },
    async raw() {
      const parts: string[] = [];
      for (const t of ['credentials', 'versions', 'audit']) {
        const { rows } = await ns.admin.query(`SELECT * FROM ${s}.${escapeIdentifier(t)}`);
        parts.push(JSON.stringify(rows));
      }
      return parts.join('\n');
    },
    async swapCiphertexts(id, a, b) {
      await ns.admin.query(
        `UPDATE ${s}.versions v SET secret = o.secret
           FROM ${s}.versions o
          WHERE v.credential_id = $1 AND o.credential_id = $1
            AND ((v.version = $2 AND o.version = $3) OR (v.version = $3 AND o.version = $2))`,
        [id, a, b],
      );
    },
    async editDefinition(id, patch) {
      await ns.admin.query(`UPDATE ${s}.credentials SET definition = definition || $2::jsonb WHERE id = $1`, [
        id,
        JSON.stringify(patch),
      ]);
    },
    async editVersion(id, version, patch) {
      for (const [k, v] of Object.entries(patch)) {
        await ns.admin.query(
          `UPDATE ${s}.versions SET ${escapeIdentifier(k)} = $3 WHERE credential_id = $1 AND version = $2`,
          [id, version, v],
        );
      }
    },
    async dropDefinitionKeepVersions(id) {
      // The foreign key forbids versions without a credentials row; a row
      // whose definition a DBA emptied is the closest a pg store gets.
      await ns.admin.query(`ALTER TABLE ${s}.versions DROP CONSTRAINT versions_credential_id_fkey`);
      await ns.admin.query(`DELETE FROM ${s}.credentials WHERE id = $1`, [id]);
    },
    async stripSignatures() {
      await ns.admin.query(`UPDATE ${s}.credentials SET definition_tag = NULL`);
      await ns.admin.query(`UPDATE ${s}.versions SET tag = NULL`);
    },
    async cleanup() {
      await Promise.all(opened.map((st) => st.close().catch(() => undefined)));
      await ns.cleanup();
    },
  };
}

defineStoreSuite('postgres', () => pgHarness());

describe('postgres store specifics', () => {
  let h: Awaited<ReturnType<typeof pgHarness>>;
  const ID = 'orders-pg/app';
  const def = { id: ID, engine: 'postgres', host: '127.0.0.1', port: 5432, baseUsername: 'app' } as const;
  const pw = () => randomBytes(16).toString('hex');

  beforeEach(async () => {
    h = await pgHarness('Rotator "Store"; DROP');
  });
  afterEach(async () => {
    await h.cleanup();
  });

  it('creates its tables in a quoted custom schema; concurrent first use by several pools is safe', async () => {
    const stores = await Promise.all([h.open(), h.open(), h.open()]);
    await Promise.all(stores.map((s, i) => s.audit({ actor: `w${i}`, credentialId: ID, action: 'hello' })));
    const { rows } = await h.ns.admin.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
      ['Rotator "Store"; DROP'],
    );
    expect(rows.map((r) => r.table_name)).toEqual(['audit', 'credentials', 'meta', 'versions']);
    expect(await stores[0]!.listAudit(ID)).toHaveLength(3);
  });

  it('concurrent promote from two pools ends in one consistent state', async () => {
    const [a, b] = [await h.open(), await h.open()];
    await a.putDefinition({ ...def } as never, 'op');
    await a.importCurrent(ID, { username: 'app', password: pw() }, 'op');
    // Several rounds: both "workers" race createPending + promote for the same version.
    for (let v = 2; v <= 6; v++) {
      const p = pw();
      const username = v % 2 ? 'app' : 'app_b';
      await Promise.all([
        a.createPending(ID, v, username, () => p, 'wa'),
        b.createPending(ID, v, username, () => p, 'wb'),
      ]);
      await Promise.all([a.promote(ID, v, 'wa'), b.promote(ID, v, 'wb'), a.promote(ID, v, 'wa')]);
      const versions = await b.listVersions(ID);
      expect(versions.filter((x) => x.label === 'CURRENT').map((x) => x.version)).toEqual([v]);
      expect(versions.filter((x) => x.label === 'PREVIOUS').map((x) => x.version)).toEqual([v - 1]);
      expect(versions.filter((x) => x.label === 'PENDING')).toEqual([]);
      expect((await a.getSecret(ID, 'CURRENT')).password).toBe(p);
    }
    const audit = await a.listAudit(ID);
    expect(audit.filter((x) => x.action === 'promote').map((x) => x.version)).toEqual([2, 3, 4, 5, 6]);
    expect(audit.filter((x) => x.action === 'create-pending').map((x) => x.version)).toEqual([2, 3, 4, 5, 6]);
  });

  it('concurrent promote of different pendings is impossible; racing createPending yields one pending', async () => {
    const [a, b] = [await h.open(), await h.open()];
    await a.putDefinition({ ...def } as never, 'op');
    await a.importCurrent(ID, { username: 'app', password: pw() }, 'op');
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).createPending(ID, 2 + i, `app_${i}`, pw, `w${i}`)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StoreStateError);
    expect((await a.listVersions(ID)).filter((v) => v.state === 'pending')).toHaveLength(1);
  });

  it('the database itself forbids two versions with one label (deferred constraint)', async () => {
    const a = await h.open();
    await a.putDefinition({ ...def } as never, 'op');
    await a.importCurrent(ID, { username: 'app', password: pw() }, 'op');
    await a.createPending(ID, 2, 'app_b', pw, 'w');
    const s = escapeIdentifier('Rotator "Store"; DROP');
    await expect(
      h.ns.admin.query(`UPDATE ${s}.versions SET label = 'CURRENT', state = 'current' WHERE version = 2`),
    ).rejects.toThrow(/one_version_per_label/);
  });

  it('a least-privilege login can use tables a DBA created', async () => {
    const a = await h.open();
    await a.putDefinition({ ...def } as never, 'op');
    const pass = pw();
    const role = await h.ns.createLogin('store', pass);
    const s = escapeIdentifier('Rotator "Store"; DROP');
    await h.ns.admin.query(`GRANT USAGE ON SCHEMA ${s} TO ${escapeIdentifier(role)}`);
    await h.ns.admin.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${escapeIdentifier(role)}`,
    );
    await h.ns.admin.query(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${s} TO ${escapeIdentifier(role)}`);
    await h.ns.admin.query(`REVOKE CREATE ON DATABASE ${escapeIdentifier(h.ns.database)} FROM PUBLIC`);
    const limited = PgStore.fromConfig(
      {
        pool: { ...poolConfig(h.ns.database), user: role, password: pass },
        schema: 'Rotator "Store"; DROP',
      },
      cipherK1, // the same keyring: records are signed with it
    );
    try {
      await limited.importCurrent(ID, { username: 'app', password: pw() }, 'op');
      expect(await limited.listVersions(ID)).toHaveLength(1);
    } finally {
      await limited.close();
    }
  });

  it('migrates a schema version 1 store: rows stay unsigned and refused until `store sign`', async () => {
    const a = await h.open();
    await a.putDefinition({ ...def } as never, 'op');
    await a.importCurrent(ID, { username: 'app', password: pw() }, 'op');
    const s = escapeIdentifier('Rotator "Store"; DROP');
    // What a build before record signing left behind.
    await h.ns.admin.query(`ALTER TABLE ${s}.credentials DROP COLUMN definition_tag`);
    await h.ns.admin.query(`ALTER TABLE ${s}.versions DROP COLUMN tag`);
    await h.ns.admin.query(`UPDATE ${s}.meta SET value = '1' WHERE key = 'schema_version'`);
    const b = await h.open();
    await expect(b.getDefinition(ID)).rejects.toThrow(/not signed with the store key.*db-rotator store sign/);
    expect(await b.signUnsigned('ops')).toBe(2);
    expect((await b.getDefinition(ID)).host).toBe('127.0.0.1');
    const { rows } = await h.ns.admin.query(`SELECT value FROM ${s}.meta WHERE key = 'schema_version'`);
    expect(rows[0].value).toBe('2');
  });

  it('reports an unreachable server as a retryable error', async () => {
    const store = PgStore.fromConfig(
      { pool: { ...poolConfig(h.ns.database), port: 1, connectionTimeoutMillis: 2000 } },
      cipherK1,
    );
    try {
      const e = await store.listDefinitions().catch((x: Error) => x);
      expect(e).toMatchObject({ code: 'TransientError', retryable: true });
    } finally {
      await store.close();
    }
  });
});
