import { Pool, escapeIdentifier, type PoolClient, type PoolConfig } from 'pg';
import { ConfigError, RotatorError, TransientError } from '../errors';
import { BaseStore, type DefinitionRecord } from './base-store';
import type { SecretCipher } from './crypto';
import {
  diffVersions,
  sameDefinition,
  type CredentialSnapshot,
  type Mutation,
  type VersionRecord,
} from './transitions';
import type { AuditRecord, CredentialDefinition } from './types';
import { preparePgSchema } from './pg-schema';

/**
 * PostgreSQL backend, for production and many workers.
 *
 * Tables live in one schema (default "rotator") and are created on first use
 * (pg-schema.ts):
 *   credentials(id PK, definition jsonb, definition_tag, created_at, updated_at)
 *   versions(credential_id FK ON DELETE CASCADE, version, username, state,
 *            label, secret, tag, created_at, updated_at; PK (credential_id, version);
 *            a deferred EXCLUDE constraint: at most one version per label)
 *   audit(seq bigserial PK, at, actor, credential_id, action, version, details jsonb)
 *
 * Every mutation is one transaction: an advisory transaction lock on the
 * credential id (which also covers a credential that does not exist yet),
 * SELECT ... FOR UPDATE of its credentials row, load its versions, apply the
 * shared transition, write the changed rows and the audit records, COMMIT.
 * So a promote is atomic across workers, and two concurrent promotes of the
 * same version serialize (the second one is the idempotent no-op).
 *
 * Definitions and versions carry a signature made with the store key
 * (integrity.ts, columns definition_tag and tag): a row changed by someone
 * without the keyring is refused when read. Schema version 2 added those
 * columns; a version 1 schema is migrated on first use (its rows stay
 * unsigned until `db-rotator store sign --all`).
 *
 * All values are bound parameters; the only identifier (the schema) is
 * quoted with pg's escapeIdentifier.
 */

export interface PgStoreOptions {
  /** Schema for the tables; default "rotator". */
  schema?: string;
  clock?: () => Date;
}

/** SQLSTATE classes/codes and socket errors that can pass: retry. */
function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') {
    return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      String((e as Error | undefined)?.message ?? ''),
    );
  }
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(
      code,
    ) ||
    code.startsWith('08') || // connection exception
    code === '40001' || // serialization_failure
    code === '40P01' || // deadlock_detected
    code === '53300' || // too_many_connections
    code === '57P01' || // admin_shutdown
    code === '57P02' ||
    code === '57P03' // cannot_connect_now (starting up)
  );
}

function wrap(e: unknown, what: string): unknown {
  if (e instanceof RotatorError) return e;
  if (isTransient(e)) {
    const err = new TransientError(`credential store (postgres): ${what}: ${(e as Error).message}`);
    (err as { cause?: unknown }).cause = e;
    return err;
  }
  return e;
}

interface VersionRow {
  credential_id: string;
  version: number;
  username: string;
  state: VersionRecord['state'];
  label: VersionRecord['label'] | null;
  secret: string;
  tag?: string | null;
  created_at: Date;
  updated_at: Date;
}

interface AuditRow {
  at: Date;
  actor: string;
  credential_id: string;
  action: string;
  version: number | null;
  details: Record<string, unknown> | null;
}

function toRecord(r: VersionRow): VersionRecord {
  const v: VersionRecord = {
    credentialId: r.credential_id,
    version: r.version,
    username: r.username,
    state: r.state,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    secret: r.secret,
  };
  if (r.label) v.label = r.label;
  if (r.tag) v.tag = r.tag;
  return v;
}

function toAudit(r: AuditRow): AuditRecord {
  const a: AuditRecord = {
    at: r.at.toISOString(),
    actor: r.actor,
    credentialId: r.credential_id,
    action: r.action,
  };
  if (r.version !== null) a.version = r.version;
  if (r.details !== null) a.details = r.details;
  return a;
}

export class PgStore extends BaseStore {
  private readonly s: string; // quoted schema
  private ready: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly ownsPool: boolean,
    cipher: SecretCipher,
    opts: PgStoreOptions = {},
  ) {
    super(cipher, opts.clock);
    const schema = opts.schema ?? 'rotator';
    if (
      typeof schema !== 'string' ||
      schema === '' ||
      schema.includes('\0') ||
      Buffer.byteLength(schema) > 63
    ) {
      throw new ConfigError('postgres store: schema must be 1-63 bytes without NUL');
    }
    this.schema = schema;
    this.s = escapeIdentifier(schema);
  }

  readonly schema: string;

  static fromConfig(
    config: { connectionString?: string; pool?: PoolConfig; schema?: string },
    cipher: SecretCipher,
    opts: Omit<PgStoreOptions, 'schema'> = {},
  ): PgStore {
    const poolConfig: PoolConfig = { ...(config.pool ?? {}) };
    if (config.connectionString) poolConfig.connectionString = config.connectionString;
    poolConfig.application_name ??= 'db-rotator-store';
    const pool = new Pool(poolConfig);
    // An idle client losing its connection must not crash the process; the
    // pool drops it and the next query opens a new one.
    pool.on('error', () => undefined);
    const storeOpts: PgStoreOptions = { ...opts };
    if (config.schema !== undefined) storeOpts.schema = config.schema;
    return new PgStore(pool, true, cipher, storeOpts);
  }

  private t(name: 'credentials' | 'versions' | 'audit' | 'meta'): string {
    return `${this.s}.${escapeIdentifier(name)}`;
  }

  /** Creates the schema and tables once (lazily; retried after a failure). */
  ensureReady(): Promise<void> {
    this.ready ??= this.init().catch((e: unknown) => {
      this.ready = undefined;
      throw wrap(e, 'creating tables');
    });
    return this.ready;
  }

  private async init(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await preparePgSchema(client, this.schema);
    } finally {
      client.release();
    }
  }

  /** Clients whose ROLLBACK failed: destroyed instead of returned to the pool. */
  private readonly broken = new WeakSet<PoolClient>();

  private async withClient<T>(what: string, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    await this.ensureReady();
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw wrap(e, what);
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (e) {
      if (isTransient(e) || this.broken.has(client)) broken = e instanceof Error ? e : new Error(String(e));
      throw wrap(e, what);
    } finally {
      client.release(broken ?? (this.broken.has(client) ? true : undefined));
    }
  }

  private async selectVersions(c: PoolClient, id: string): Promise<VersionRecord[]> {
    const { rows } = await c.query<VersionRow>(
      `SELECT credential_id, version, username, state, label, secret, tag, created_at, updated_at
         FROM ${this.t('versions')} WHERE credential_id = $1 ORDER BY version`,
      [id],
    );
    return rows.map(toRecord);
  }

  protected load(id: string): Promise<CredentialSnapshot> {
    return this.withClient('reading a credential', async (c) => {
      // One statement = one consistent snapshot of definition and versions.
      const { rows } = await c.query<{
        definition: CredentialDefinition | null;
        definition_tag: string | null;
        versions: VersionRow[] | null;
      }>(
        `SELECT c.definition, c.definition_tag,
                (SELECT json_agg(v ORDER BY v.version) FROM ${this.t('versions')} v WHERE v.credential_id = c.id) AS versions
           FROM ${this.t('credentials')} c WHERE c.id = $1`,
        [id],
      );
      const row = rows[0];
      const snap: CredentialSnapshot = { id, versions: [] };
      if (!row) return snap;
      if (row.definition) snap.definition = row.definition;
      if (row.definition && row.definition_tag) snap.definitionTag = row.definition_tag;
      snap.versions = (row.versions ?? []).map((v) =>
        toRecord({ ...v, created_at: new Date(v.created_at), updated_at: new Date(v.updated_at) }),
      );
      return snap;
    });
  }

  protected loadDefinitions(): Promise<DefinitionRecord[]> {
    return this.withClient('listing credentials', async (c) => {
      const { rows } = await c.query<{ definition: CredentialDefinition; definition_tag: string | null }>(
        `SELECT definition, definition_tag FROM ${this.t('credentials')} ORDER BY id`,
      );
      return rows.map((r) =>
        r.definition_tag ? { definition: r.definition, tag: r.definition_tag } : { definition: r.definition },
      );
    });
  }

  protected loadIds(): Promise<string[]> {
    return this.withClient('listing credentials', async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `SELECT id FROM ${this.t('credentials')} UNION SELECT credential_id FROM ${this.t('versions')} ORDER BY 1`,
      );
      return rows.map((r) => r.id);
    });
  }

  protected loadAudit(id?: string): Promise<AuditRecord[]> {
    return this.withClient('reading the audit log', async (c) => {
      const cols = `at, actor, credential_id, action, version, details`;
      const { rows } =
        id === undefined
          ? await c.query<AuditRow>(`SELECT ${cols} FROM ${this.t('audit')} ORDER BY seq`)
          : await c.query<AuditRow>(
              `SELECT ${cols} FROM ${this.t('audit')} WHERE credential_id = $1 ORDER BY seq`,
              [id],
            );
      return rows.map(toAudit);
    });
  }

  protected transact<T>(id: string, fn: (snap: CredentialSnapshot) => Mutation<T>): Promise<T> {
    return this.withClient('updating a credential', async (c) => {
      await c.query('BEGIN');
      try {
        // The advisory lock serializes writers of this id even before its row exists.
        await c.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
          JSON.stringify(['db-rotator', this.schema, id]),
        ]);
        const def = await c.query<{ definition: CredentialDefinition; definition_tag: string | null }>(
          `SELECT definition, definition_tag FROM ${this.t('credentials')} WHERE id = $1 FOR UPDATE`,
          [id],
        );
        const snap: CredentialSnapshot = { id, versions: await this.selectVersions(c, id) };
        if (def.rows[0]) snap.definition = def.rows[0].definition;
        if (def.rows[0]?.definition_tag) snap.definitionTag = def.rows[0].definition_tag;
        const m = fn(snap);
        if (m.next === null) {
          await c.query(`DELETE FROM ${this.t('credentials')} WHERE id = $1`, [id]);
        } else if (m.next) {
          await this.persist(c, snap, m.next);
        }
        for (const a of m.audit) {
          await c.query(
            `INSERT INTO ${this.t('audit')} (at, actor, credential_id, action, version, details)
             VALUES ($1, $2, $3, $4, $5, $6)`,
            [
              a.at,
              a.actor,
              a.credentialId,
              a.action,
              a.version ?? null,
              a.details ? JSON.stringify(a.details) : null,
            ],
          );
        }
        await c.query('COMMIT');
        return m.result;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => this.broken.add(c));
        throw e;
      }
    });
  }

  private async persist(c: PoolClient, before: CredentialSnapshot, after: CredentialSnapshot): Promise<void> {
    const id = before.id;
    if (
      after.definition &&
      (!before.definition ||
        !sameDefinition(before.definition, after.definition) ||
        before.definitionTag !== after.definitionTag)
    ) {
      const now = new Date().toISOString();
      await c.query(
        `INSERT INTO ${this.t('credentials')} (id, definition, definition_tag, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition,
           definition_tag = EXCLUDED.definition_tag, updated_at = EXCLUDED.updated_at`,
        [id, JSON.stringify(after.definition), after.definitionTag ?? null, now],
      );
    }
    const diff = diffVersions(before.versions, after.versions);
    if (diff.deleted.length > 0) {
      await c.query(
        `DELETE FROM ${this.t('versions')} WHERE credential_id = $1 AND version = ANY($2::int[])`,
        [id, diff.deleted],
      );
    }
    for (const v of diff.updated) {
      await c.query(
        `UPDATE ${this.t('versions')}
            SET username = $3, state = $4, label = $5, secret = $6, updated_at = $7, tag = $8
          WHERE credential_id = $1 AND version = $2`,
        [id, v.version, v.username, v.state, v.label ?? null, v.secret, v.updatedAt, v.tag ?? null],
      );
    }
    for (const v of diff.inserted) {
      await c.query(
        `INSERT INTO ${this.t('versions')}
           (credential_id, version, username, state, label, secret, tag, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          id,
          v.version,
          v.username,
          v.state,
          v.label ?? null,
          v.secret,
          v.tag ?? null,
          v.createdAt,
          v.updatedAt,
        ],
      );
    }
  }

  protected async closeBackend(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
