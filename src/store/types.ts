import type { FreezePeriod, RotationWindow } from '../shared/windows';
import type { TargetSpec } from '../targets/schema';
import type { TlsSettings } from '../engines/tls';
import type { EngineKind, LoginNaming, StrategyName, VersionLabel, VersionState } from '../shared/types';

/**
 * What a credential is: where it lives and how it is rotated. Holds no
 * secret; the admin credential is another credential in the store,
 * referenced by id (so it can be rotated with the same workflow).
 */
export interface CredentialDefinition {
  /** Stable id, e.g. "orders-pg/app". Letters, digits and . _ - / : only. */
  id: string;
  engine: EngineKind;
  host: string;
  port: number;
  /** Database the login works in (PostgreSQL/MySQL/Mongo auth db); optional for Redis. */
  database?: string;
  /** Id of the admin credential used to manage this one; absent for an admin itself. */
  adminCredentialId?: string;
  /**
   * For an admin credential: further servers (same engine) it may be used
   * against besides its own host:port, e.g. a replica name or another
   * listener of the same server. An admin is never sent anywhere else
   * (activities/admin-scope.ts).
   */
  allowedServers?: AllowedServer[];
  strategy: StrategyName;
  /** dual-user login naming; default "alternate" (base name and base + "_b"). */
  loginNaming: LoginNaming;
  /** Base login name; versions derive their login name from it in dual-user. */
  baseUsername: string;
  policy: RotationPolicy;
  /** Extra read-only checks the pending credential must pass (engine syntax). */
  verifyChecks: string[];
  /**
   * TLS to the server (admin, verification and, as a default, consumers):
   * verified (verify-full) unless `mode: "disabled"`, which the dry-run plan
   * and `status` show as a warning. See engines/tls.ts.
   */
  tls?: TlsSettings;
  /** Engine-specific options (authSource, persist...). */
  options: Record<string, unknown>;
  /** Free-form labels for fleet selectors. */
  labels: Record<string, string>;
  /** Where each new version is delivered for applications (src/targets); may be empty. */
  targets?: TargetSpec[];
  /** Optional expiry date of the current credential (ISO), for rotate-before-expiry. */
  expiresAt?: string;
  /**
   * Other servers of the same deployment (replicas, reader endpoints, cluster
   * nodes) the new credential must work on before promote (issue 13); the
   * admin is used there too, so each must be in the admin's scope.
   */
  nodes?: TopologyNode[];
  /** How long promote waits for every node to have the change, in ms (default 60000). */
  nodeSyncTimeoutMs?: number;
}

export interface TopologyNode {
  host: string;
  port: number;
}

export interface AllowedServer {
  host: string;
  port: number;
}

export interface RotationPolicy {
  graceMs: number;
  migrationTimeoutMs: number;
  drainTimeoutMs: number;
  /**
   * How long migrate waits at least for consumers to make themselves known
   * (their heartbeat period): the workflow cannot wait for a consumer it has
   * never heard from, and promote comes faster than one heartbeat.
   */
  consumerDiscoveryMs: number;
  rotateEveryDays: number;
  /** When rotations may start and old credentials be revoked (src/shared/windows.ts); none: any time. */
  windows?: RotationWindow[];
  /** Periods in which nothing starts or is revoked. */
  freezes?: FreezePeriod[];
}

/** Metadata of one version; the secret is stored encrypted beside it. */
export interface VersionMeta {
  credentialId: string;
  version: number;
  username: string;
  state: VersionState;
  label?: VersionLabel;
  createdAt: string;
  updatedAt: string;
}

export interface StoredSecret {
  version: number;
  username: string;
  password: string;
}

export interface AuditRecord {
  at: string;
  actor: string;
  credentialId: string;
  action: string;
  version?: number;
  /** Non-secret details (strategy, reason, workflow id...). */
  details?: Record<string, unknown>;
}

export type VersionSelector = VersionLabel | number;

/**
 * Versioned credential store. Every mutation is atomic, idempotent where the
 * doc says so, and appends an audit record (never containing a secret).
 * Secrets are encrypted at rest with AES-256-GCM.
 *
 * Audit policy: exactly one record per state change. A repeated call that
 * finds its target state already reached (the idempotent cases below)
 * changes nothing and records nothing, so activity retries leave state and
 * audit log identical. Errors: UnknownCredentialError for a credential with
 * no definition (except discardPending/deleteDefinition/audit/listAudit),
 * StoreStateError for an illegal transition. Implementations: openStore()
 * in ./index.ts (file and postgres backends, rules in ./transitions.ts).
 */
export interface CredentialStore {
  /** Creates or replaces a definition (validated). */
  putDefinition(def: CredentialDefinition, actor: string): Promise<void>;
  /** Throws UnknownCredentialError. */
  getDefinition(id: string): Promise<CredentialDefinition>;
  listDefinitions(): Promise<CredentialDefinition[]>;
  /** Removes a definition and all its versions. No-op if absent. */
  deleteDefinition(id: string, actor: string): Promise<void>;

  /**
   * Imports an existing login as the CURRENT version (version 1 if none,
   * else one above the highest existing version). Idempotent if the CURRENT
   * version already holds exactly this username and password. Otherwise fails
   * with StoreStateError if a CURRENT (or PENDING) version exists already.
   */
  importCurrent(
    id: string,
    secret: { username: string; password: string },
    actor: string,
  ): Promise<VersionMeta>;

  listVersions(id: string): Promise<VersionMeta[]>;
  /** Throws StoreStateError if no version has that label/number. */
  getSecret(id: string, selector: VersionSelector): Promise<StoredSecret>;
  getVersion(id: string, selector: VersionSelector): Promise<VersionMeta | undefined>;

  /**
   * Stores `version` as PENDING with a password made by `generate` (called
   * only if the version does not exist yet). Idempotent: if that version is
   * already pending, returns it unchanged (the password is not regenerated).
   * Throws StoreStateError if another version is pending, `version` exists
   * in another state, is pending under another username, or is not above
   * every existing version number.
   */
  createPending(
    id: string,
    version: number,
    username: string,
    generate: () => string,
    actor: string,
  ): Promise<VersionMeta>;

  /**
   * Deletes a pending version (saga undo of createPending); its number can be
   * used again. No error if absent. StoreStateError if that version exists
   * in another state (an undo never deletes a CURRENT/PREVIOUS version).
   */
  discardPending(id: string, version: number, actor: string): Promise<void>;

  /**
   * Atomically: `version` (PENDING) becomes CURRENT, the old CURRENT becomes
   * PREVIOUS (an older PREVIOUS loses the label but keeps state "previous").
   * Idempotent if `version` is CURRENT already.
   */
  promote(id: string, version: number, actor: string): Promise<void>;

  /**
   * Undo of promote / rollback: PREVIOUS `toVersion` becomes CURRENT again
   * and the version that was CURRENT becomes PENDING (still usable until it
   * is discarded). Idempotent (no-op if `toVersion` is CURRENT already).
   * StoreStateError if `toVersion` is not labelled PREVIOUS, or another
   * version is PENDING.
   */
  demote(id: string, toVersion: number, actor: string): Promise<void>;

  /**
   * Marks a version revoked (its login/password no longer works); drops its
   * label. Idempotent. StoreStateError for the CURRENT version. The encrypted
   * secret is kept (readable by number) so a retried revoke can still use it.
   */
  markRevoked(id: string, version: number, actor: string): Promise<void>;

  /**
   * Appends an audit record without changing state (e.g. "rotation started").
   * Detail keys that look like secrets (password, token, secret...) are redacted.
   */
  audit(record: Omit<AuditRecord, 'at'>): Promise<void>;
  /** Oldest first; all credentials if `id` is omitted. */
  listAudit(id?: string): Promise<AuditRecord[]>;

  close(): Promise<void>;
}
