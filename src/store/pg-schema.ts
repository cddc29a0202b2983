import { escapeIdentifier, type PoolClient } from 'pg';
import { ConfigError } from '../errors';

/**
 * The PostgreSQL store's tables (pg-store.ts describes them): created on
 * first use, migrated from an older schema version, checked. The schema name
 * is the only identifier and is quoted with pg's escapeIdentifier.
 */

export const SCHEMA_VERSION = 2;

type Table = 'credentials' | 'versions' | 'audit' | 'meta';

function table(schema: string, name: Table): string {
  return `${escapeIdentifier(schema)}.${escapeIdentifier(name)}`;
}

/** Creates the schema and tables if missing, migrates an older version, refuses an unknown one. */
export async function preparePgSchema(client: PoolClient, schema: string): Promise<void> {
  const t = (name: Table) => table(schema, name);
  // Nothing to do if everything exists (lets a least-privilege login that
  // cannot CREATE use tables a DBA made).
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(to_regclass(format('%I.%I', $1::text, t)))::int AS n
         FROM unnest(ARRAY['credentials','versions','audit','meta']) AS t`,
    [schema],
  );
  if (rows[0]?.n !== 4) await createTables(client, schema);
  let v = await client.query<{ value: string }>(
    `SELECT value FROM ${t('meta')} WHERE key = 'schema_version'`,
  );
  if (v.rows[0]?.value === '1') {
    await migrateFrom1(client, schema);
    v = await client.query<{ value: string }>(`SELECT value FROM ${t('meta')} WHERE key = 'schema_version'`);
  }
  const found = Number(v.rows[0]?.value ?? NaN);
  if (found !== SCHEMA_VERSION) {
    throw new ConfigError(
      `postgres store schema "${schema}" has version ${v.rows[0]?.value ?? 'none'}; this build needs ${SCHEMA_VERSION}`,
    );
  }
}

/** 1 -> 2: signature columns (rows stay unsigned until `db-rotator store sign`). */
async function migrateFrom1(client: PoolClient, schema: string): Promise<void> {
  const t = (name: Table) => table(schema, name);
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
      `db-rotator schema ${schema}`,
    ]);
    await client.query(`ALTER TABLE ${t('credentials')} ADD COLUMN IF NOT EXISTS definition_tag text`);
    await client.query(`ALTER TABLE ${t('versions')} ADD COLUMN IF NOT EXISTS tag text`);
    await client.query(`UPDATE ${t('meta')} SET value = '2' WHERE key = 'schema_version' AND value = '1'`);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

async function createTables(client: PoolClient, schema: string): Promise<void> {
  const t = (name: Table) => table(schema, name);
  const s = escapeIdentifier(schema);
  try {
    await client.query('BEGIN');
    // Concurrent first use by several workers: one creates, the others wait.
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
      `db-rotator schema ${schema}`,
    ]);
    const exists = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t('meta')} (
        key text PRIMARY KEY,
        value text NOT NULL
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t('credentials')} (
        id text PRIMARY KEY,
        definition jsonb NOT NULL,
        definition_tag text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t('versions')} (
        credential_id text NOT NULL REFERENCES ${t('credentials')} (id) ON DELETE CASCADE,
        version integer NOT NULL CHECK (version > 0),
        username text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'current', 'previous', 'revoked', 'discarded')),
        label text CHECK (label IN ('CURRENT', 'PENDING', 'PREVIOUS')),
        secret text NOT NULL,
        tag text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (credential_id, version),
        CONSTRAINT one_version_per_label
          EXCLUDE USING btree (credential_id WITH =, label WITH =) WHERE (label IS NOT NULL)
          DEFERRABLE INITIALLY DEFERRED
      )`);
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${t('audit')} (
        seq bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        credential_id text NOT NULL,
        action text NOT NULL,
        version integer,
        details jsonb
      )`);
    await client.query(
      `CREATE INDEX IF NOT EXISTS audit_by_credential ON ${t('audit')} (credential_id, seq)`,
    );
    await client.query(
      `INSERT INTO ${t('meta')} (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO NOTHING`,
      [String(SCHEMA_VERSION)],
    );
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
