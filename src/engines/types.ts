import type { EngineKind, ResolvedStrategy } from '../shared/types';
import type { RotatorError } from '../errors';
import type { ResolvedTls } from './tls';

/**
 * The one interface every database engine implements. The rotation logic
 * (src/activities) composes these calls per strategy and never asks which
 * engine it talks to. Modelled on Vault's dbplugin v5: small, each method's
 * contract written here, idempotency included.
 *
 * Rules for every implementation:
 * - Identifiers are quoted with the driver's/server's own escaping; passwords
 *   are sent as hashes/verifiers where the server allows it, and never appear
 *   in an error message or a log line.
 * - Every method may be called again after a partial or complete success
 *   (activity retries) and must converge to the same end state.
 * - Errors: throw the classes of src/errors.ts (AdminPrivilegeError,
 *   UnsupportedServerError, VerificationError, PrivilegeParityError,
 *   UnsafeIdentifierError...) for permanent problems; anything else is
 *   treated as transient and retried.
 */
export interface Secret {
  username: string;
  password: string;
}

/** Where and how to reach the server, with the admin credential to use. */
export interface EngineConnection {
  host: string;
  port: number;
  /** Database to connect to (PostgreSQL/MySQL db name, Mongo auth database, Redis db index as string). */
  database?: string;
  admin: Secret;
  /** Engine-specific options from the credential definition (authSource, persist...). */
  options?: Record<string, unknown>;
  /**
   * TLS for admin and verification connections (./tls.ts). Absent: the
   * default, verify-full with ROTATOR_TLS_CA_FILE or the system trust store.
   */
  tls?: ResolvedTls;
  /** Connect timeout for admin and verification connections. */
  connectTimeoutMs?: number;
  /** Dry-run mode (see DryRunRecorder): read everything, change nothing, record what would change. */
  dryRun?: DryRunRecorder;
}

/**
 * Dry-run mode. An engine created with `EngineConnection.dryRun` performs
 * every READ it normally does (catalogs, SHOW GRANTS, describe, sessions,
 * ACL GETUSER, usersInfo) and takes every decision the same way, but instead
 * of running a statement/command that changes the server it passes it to
 * `record`, and carries on as if it had succeeded. Engines implement it in
 * one place each: their write method goes through a ChangeWriter
 * (./recording.ts), never through `if (dryRun)` in engine methods. Contract:
 *
 * - Secrets are never recorded: password literals, SCRAM verifiers, native
 *   password hashes and ACL hash rules appear as `<redacted>` (REDACTED in
 *   ./redaction.ts).
 * - Recorded text is what the engine would send, in order (PostgreSQL marks a
 *   change of database with a `\connect <db>` line; Redis records commands
 *   as words; MongoDB as `db.getSiblingDB(..).runCommand({...})`).
 * - Ending sessions is a change too: it is recorded, never done. Waits that
 *   depend on a change having happened (draining until sessions are gone)
 *   are skipped.
 * - A login that a recorded statement would have created does not exist:
 *   the engine treats it as existing with nothing granted (createLoginLike
 *   diffs against an empty login, dropLogin accepts a missing heir, and
 *   comparePrivileges(reference, missing) lists everything `reference` has).
 * - Statements whose choice depends on stored state that an earlier step
 *   of the rotation would change (MySQL keep-only after add)
 *   take the full, always-correct path.
 * - `note` reports what the operator should know beyond statements (objects
 *   that would move, sessions that would be ended, databases skipped).
 * - Errors are thrown exactly as in a real run (AdminPrivilegeError etc.).
 */
export interface DryRunRecorder {
  record(statement: string): void;
  note(message: string): void;
}

export interface ServerInfo {
  engine: EngineKind;
  /** e.g. "15.18", "10.11.6-MariaDB", "7.0.15", "7.0.77 (FerretDB 1.24.0)". */
  version: string;
  /** "postgresql", "mysql", "mariadb", "redis", "mongodb", "ferretdb". */
  variant: string;
  /** Strategies this live server supports, each with why / why not. */
  strategies: Record<ResolvedStrategy, { supported: boolean; reason: string }>;
}

export interface SessionInfo {
  /** Server-side id (pid, processlist id, client id, opid). */
  id: string;
  username: string;
  clientAddress?: string;
  /** Seconds since the session started / last query, where the server tells. */
  ageSeconds?: number;
  state?: string;
}

export interface PrivilegeDiff {
  /** Privileges the reference login has and the other lacks, human readable. */
  missing: string[];
  /** Privileges the other login has beyond the reference (reported, not fatal). */
  extra: string[];
}

export interface VerifyOptions {
  /** Extra read-only statements/commands that must succeed (engine syntax). */
  checks?: string[];
}

/**
 * A password change, by strategy. `replace` (single): the login accepts only
 * `password`, set in place. `add` (dual-password apply): the login accepts
 * `password` in addition to `current`; running it twice leaves exactly those
 * two. `keep-only` (dual-password revoke and undo): the login accepts only
 * `password` afterwards (the other one is discarded) and keeps its other
 * attributes. Engines without dual passwords refuse `add` and `keep-only`
 * with UnsupportedStrategyError.
 */
export type PasswordChange =
  | { mode: 'replace'; password: string }
  | { mode: 'add'; password: string; current: string }
  | { mode: 'keep-only'; password: string };

export interface Engine {
  readonly kind: EngineKind;

  /** Version, variant and supported strategies of the live server. Read-only. */
  describe(): Promise<ServerInfo>;

  /**
   * Every reason the admin credential cannot perform `strategy` on `login`
   * (e.g. CREATEROLE on PostgreSQL, CREATE USER on MySQL; `login` missing),
   * in check order, as the permanent errors the rotation would fail with
   * (AdminPrivilegeError, ConfigError, UnsupportedStrategyError...); empty:
   * none. A transient problem (the server is unreachable) is thrown.
   * Read-only. The rotation's preflight throws the first, a dry run lists all.
   */
  check(login: string, strategy: ResolvedStrategy): Promise<RotatorError[]>;

  /** True if the login exists on the server. Read-only. */
  loginExists(login: string): Promise<boolean>;

  /**
   * dual-user: creates `newLogin` with `password` and every privilege,
   * membership, attribute and setting of `template`. If `newLogin` already
   * exists (retry), resets its password and re-syncs privileges instead of
   * failing. Changes to `template` are limited to what makes the grace window
   * work both ways (PostgreSQL: default privileges FOR ROLE template TO
   * newLogin), and dropLogin(newLogin) removes them again.
   */
  createLoginLike(template: string, newLogin: string, password: string): Promise<void>;

  /**
   * Drops `login`: ends its sessions, moves objects it owns to `heir` (if
   * given; PostgreSQL REASSIGN OWNED / DROP OWNED in every database), then
   * drops it. Does not error if the login does not exist.
   */
  dropLogin(login: string, heir?: string): Promise<void>;

  /**
   * Changes the password(s) `login` accepts (see PasswordChange). Idempotent:
   * a repeat converges to the same passwords. The login must exist.
   */
  changePassword(login: string, change: PasswordChange): Promise<void>;

  /**
   * Logs in as `secret` on a fresh connection (not the admin one) and runs a
   * trivial query plus `options.checks`. Throws VerificationError naming the
   * failing check (never the password).
   */
  verifyLogin(secret: Secret, options?: VerifyOptions): Promise<void>;

  /** Differences between the effective privileges of `reference` and `other`. Read-only. */
  comparePrivileges(reference: string, other: string): Promise<PrivilegeDiff>;

  /** The server's own view of open sessions of `login`. Read-only. */
  listSessions(login: string): Promise<SessionInfo[]>;

  /**
   * Ends every open session of `login` on this server and returns how many it
   * ended. dropLogin ends the primary's sessions itself; revoke calls this on
   * replicas and reader nodes, which keep their own sessions. Idempotent: no
   * session left is 0.
   */
  endSessions(login: string): Promise<number>;

  /** Closes the admin connection(s). Safe to call twice. */
  close(): Promise<void>;
}

export type EngineFactory = (kind: EngineKind, connection: EngineConnection) => Engine;
