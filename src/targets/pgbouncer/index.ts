import { Client } from 'pg';
import { ConfigError, TransientError } from '../../errors';
import type { TargetDeps } from '../registry';
import type { PgbouncerTargetSpec } from '../schema';
import type { DeliveryPlanLines, DeliveryStep, Target, VerifyStage } from '../target';
import { readSecrets, updateAuthFile } from './auth-file';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * PgBouncer in front of PostgreSQL with `auth_type = scram-sha-256` and an
 * auth_file. The file must hold, per login, exactly the SCRAM verifier the
 * server stores (same salt and iterations): PgBouncer logs in to the server
 * with the keys it recovers from the client's proof, which only the same
 * verifier yields. So this target mirrors the server: for the logins of a
 * rotation it copies `pg_authid.rolpassword` (read with the credential's
 * admin) into the file, removes the line of a login that no longer exists,
 * and sends RELOAD on the admin console. Because it mirrors state instead of
 * replaying steps, every method is the same sync and is idempotent:
 * during grace (dual-user) both logins have lines; after revoke or a
 * rollback's cleanup, the dropped one is gone.
 *
 * auth_query (PgBouncer asks the server for the verifier on each new login)
 * needs no file and no RELOAD and cannot drift; see README "Connect your
 * application" for why we still recommend it for production.
 */
export class PgbouncerTarget implements Target {
  readonly description: string;

  constructor(
    private readonly spec: PgbouncerTargetSpec,
    private readonly deps: TargetDeps,
  ) {
    this.description = `pgbouncer ${spec.host}:${spec.port}`;
  }

  publishPending = (step: DeliveryStep) => this.sync(step);
  publishCurrent = (step: DeliveryStep) => this.sync(step);
  restore = (step: DeliveryStep) => this.sync(step);
  removeOld = (step: DeliveryStep) => this.sync(step);

  async verify(step: DeliveryStep, stage: VerifyStage): Promise<void> {
    const logins =
      stage === 'restored' ? [step.from] : stage === 'pending' ? [step.to, step.from] : [step.to];
    for (const c of logins) {
      if (!c) throw new ConfigError(`${this.description}: the version to verify is not readable any more`);
      await this.loginThroughBouncer(c.username, c.password);
    }
    // What must be gone from the file is gone (the login was dropped on the server).
    const server = await this.serverVerifiers(step);
    const file = await readSecrets(this.spec.authFile, [...new Set([step.fromUsername, step.toUsername])]);
    for (const user of new Set([step.fromUsername, step.toUsername])) {
      if (file.get(user) !== server.get(user)) {
        throw new TransientError(
          `${this.description}: auth file line of "${user}" does not match the server`,
        );
      }
    }
  }

  describeActions(): DeliveryPlanLines {
    const sync = `copy the logins' SCRAM verifiers from pg_authid into ${this.spec.authFile}, RELOAD, log in through PgBouncer`;
    return {
      pending: `${this.description}: add the new login's line; ${sync}`,
      current: `${this.description}: ${sync}`,
      restore: `${this.description}: ${sync} (the new login's line goes once it is dropped)`,
      removeOld: `${this.description}: remove the old login's line; ${sync}`,
    };
  }

  async close(): Promise<void> {}

  private async sync(step: DeliveryStep): Promise<void> {
    const server = await this.serverVerifiers(step);
    const want = new Map<string, string | undefined>();
    for (const user of new Set([step.fromUsername, step.toUsername])) want.set(user, server.get(user));
    const changed = await updateAuthFile(this.spec.authFile, want);
    // RELOAD even when unchanged: a previous attempt may have written the file and died before it.
    void changed;
    await this.reload();
  }

  /** pg_authid verifiers of the rotation's logins; a login that does not exist has none. */
  private async serverVerifiers(step: DeliveryStep): Promise<Map<string, string>> {
    const adminId = this.deps.credential.adminCredentialId;
    if (!adminId)
      throw new ConfigError(
        `${this.description}: the credential has no admin credential to read verifiers with`,
      );
    const admin = await this.deps.readCredential(adminId);
    const c = new Client({
      host: this.deps.credential.host,
      port: this.deps.credential.port,
      database: this.deps.credential.database ?? 'postgres',
      user: admin.username,
      password: admin.password,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    await c.connect();
    try {
      const users = [...new Set([step.fromUsername, step.toUsername])];
      const { rows } = await c.query<{ rolname: string; rolpassword: string | null }>(
        'SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY($1::text[])',
        [users],
      );
      const out = new Map<string, string>();
      for (const r of rows) {
        if (!r.rolpassword?.startsWith('SCRAM-SHA-256$')) {
          throw new ConfigError(
            `${this.description}: login "${r.rolname}" has no SCRAM-SHA-256 password on the server`,
          );
        }
        out.set(r.rolname, r.rolpassword);
      }
      return out;
    } catch (err) {
      if ((err as { code?: string }).code === '42501') {
        throw new ConfigError(
          `${this.description}: reading pg_authid needs a superuser admin (or use auth_query)`,
        );
      }
      throw err;
    } finally {
      await c.end();
    }
  }

  private async reload(): Promise<void> {
    const id = this.spec.consoleCredentialId ?? this.deps.credential.adminCredentialId;
    if (!id) throw new ConfigError(`${this.description}: no console credential for RELOAD`);
    const console = await this.deps.readCredential(id);
    const c = this.bouncerClient('pgbouncer', console.username, console.password);
    await c.connect();
    try {
      await c.query('RELOAD');
    } finally {
      await c.end();
    }
  }

  private async loginThroughBouncer(user: string, password: string): Promise<void> {
    const db = this.spec.verifyDatabase ?? this.deps.credential.database ?? 'postgres';
    const c = this.bouncerClient(db, user, password);
    try {
      await c.connect();
      await c.query('SELECT 1');
    } catch (err) {
      throw new TransientError(
        `${this.description}: login "${user}" through PgBouncer failed: ${safeMessage(err)}`,
      );
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  private bouncerClient(database: string, user: string, password: string): Client {
    return new Client({
      host: this.spec.host,
      port: this.spec.port,
      database,
      user,
      password,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
  }
}

/** Server messages name the login at most; never the password. */
function safeMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
