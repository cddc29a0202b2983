// Types shared by workflows, activities, client and tests.
// Nothing here may hold a secret: these values travel through Temporal history.
import type { WindowPolicy } from './windows';

export const ENGINE_KINDS = ['postgres', 'mysql', 'redis', 'mongodb'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export const STRATEGIES = ['auto', 'dual-password', 'dual-user', 'single'] as const;
export type StrategyName = (typeof STRATEGIES)[number];
export type ResolvedStrategy = Exclude<StrategyName, 'auto'>;

/** How dual-user picks the next login name: two fixed slots, or one name per version. */
export const LOGIN_NAMINGS = ['alternate', 'versioned'] as const;
export type LoginNaming = (typeof LOGIN_NAMINGS)[number];

export const VERSION_LABELS = ['CURRENT', 'PENDING', 'PREVIOUS'] as const;
export type VersionLabel = (typeof VERSION_LABELS)[number];

/** Life cycle of one stored version of a credential. */
export type VersionState = 'pending' | 'current' | 'previous' | 'revoked' | 'discarded';

/** A reference to a stored version; never the secret itself. */
export interface VersionRef {
  credentialId: string;
  version: number;
}

export type Phase =
  | 'preflight'
  | 'create-pending'
  | 'apply'
  | 'verify'
  /** With nodes: waits until every node has the change, verifies the new login there. */
  | 'replicate'
  | 'promote'
  | 'migrate'
  | 'grace'
  | 'revoke'
  | 'rollback'
  | 'compensate'
  /** A step after promote (or an undo) keeps failing: the run waits for the `resolve` Update. */
  | 'needs-operator'
  | 'done';

/** 'planned': a dry run (RotationInput.dryRun) that only computed the plan and changed nothing. */
export type Outcome = 'rotated' | 'aborted' | 'rolled-back' | 'failed' | 'planned';

export interface RotationInput {
  credentialId: string;
  /** Overrides of the credential's policy for this run (milliseconds). */
  graceMs?: number;
  migrationTimeoutMs?: number;
  drainTimeoutMs?: number;
  consumerDiscoveryMs?: number;
  /** A consumer silent this long no longer holds migrate (shown as gone); default 3 heartbeat periods. */
  consumerExpiryMs?: number;
  /** Consumers tracked per rotation; reports from more are counted, not stored (default 100). */
  maxConsumers?: number;
  /** Who asked for it (operator name, "schedule", "fleet"); goes to audit records. */
  requestedBy?: string;
  reason?: string;
  /**
   * A leaked credential: short grace (default 5 min), migration wait bounded
   * by it, and a forced revoke that ends the old login's sessions at the
   * deadline whether or not every consumer reported.
   */
  emergency?: boolean;
  /**
   * Only plan: run the planRotation activity and return its RotationDryRun
   * (outcome 'planned'). Nothing changes on the server or in the store
   * except one "rotation-planned" audit record.
   */
  dryRun?: boolean;
  /**
   * Rotation windows (policy.windows/freezes, src/shared/windows.ts) at start:
   * 'override' = an operator starts outside a window on purpose (needs a
   * reason; audited as "window-override"); 'launcher-waited' = the
   * schedule/fleet launcher already waited for the window in workflow time.
   * Emergencies ignore windows.
   */
  outsideWindow?: 'override' | 'launcher-waited';
}

/** What preflight learned; everything later phases need, and no secret. */
export interface RotationPlan {
  credentialId: string;
  engine: EngineKind;
  serverVersion: string;
  strategy: ResolvedStrategy;
  strategyReason: string;
  fromVersion: number;
  fromUsername: string;
  toVersion: number;
  toUsername: string;
  graceMs: number;
  migrationTimeoutMs: number;
  drainTimeoutMs: number;
  consumerDiscoveryMs: number;
  /** Absent in plans made before these existed; the workflow then uses its defaults. */
  consumerExpiryMs?: number;
  maxConsumers?: number;
  /** Set for an emergency rotation, with the operator's reason. */
  emergency?: { reason: string };
  warnings: string[];
  /** Windows and freezes the revoke waits for (absent: none declared, or an emergency). */
  window?: WindowPolicy;
  /** Delivery targets of the credential (descriptions, no secret); absent when it has none. */
  targets?: string[];
  /** Other nodes the login must work on before promote ("host:port"); absent: the primary only. */
  nodes?: string[];
  /** With nodes: how long the replicate step waits for them, in ms. */
  nodeSyncTimeoutMs?: number;
}

export interface ConsumerHeartbeat {
  consumerId: string;
  version: number;
}

export interface ConsumerStatus {
  consumerId: string;
  version: number;
  lastSeen: string; // ISO time
  /** Silent for longer than the expiry: no longer waited for. */
  gone?: boolean;
}

export interface PhaseTiming {
  phase: Phase;
  startedAt: string;
  endedAt?: string;
}

export interface RotationStatus {
  credentialId: string;
  phase: Phase;
  plan?: RotationPlan;
  consumers: ConsumerStatus[];
  /** Consumers that reported a version other than the one they should use now. */
  consumersBehind: string[];
  migrationDeadline?: string;
  graceDeadline?: string;
  abortRequested?: string;
  rollbackRequested?: string;
  lastError?: string;
  /** Set while the run waits for an operator: which step keeps failing, since when, and why. */
  needsOperator?: { step: string; since: string; error: string };
  /** Heartbeats from consumers beyond the table's cap (counted, not stored). */
  consumersOverflow?: number;
  phases: PhaseTiming[];
  outcome?: Outcome;
}

export interface RotationResult {
  credentialId: string;
  outcome: Outcome;
  strategy?: ResolvedStrategy;
  fromVersion?: number;
  toVersion?: number;
  error?: string;
  /** The plan of a dry run (outcome 'planned'). */
  dryRun?: RotationDryRun;
}

/** A session the server reports for a login (the engines' SessionInfo). */
export interface OpenSession {
  id: string;
  username: string;
  clientAddress?: string;
  ageSeconds?: number;
  state?: string;
}

/**
 * What a rotation would do, computed by planRotation without changing
 * anything. Statements show secrets as "<redacted>". `blockers` empty means
 * the rotation would pass preflight; each entry is a reason it would not
 * (or would fail later, e.g. at revoke).
 */
export interface RotationDryRun {
  credentialId: string;
  engine: EngineKind;
  /** The plan preflight would hand the rotation; absent when a blocker stops planning early. */
  plan?: RotationPlan;
  /** e.g. "postgresql 15.20", "mariadb 10.11.6-MariaDB". */
  serverVersion?: string;
  strategy?: ResolvedStrategy;
  strategyReason?: string;
  /** The login the apply step creates (dual-user) or whose password it changes. */
  loginToCreateOrAlter?: {
    action: 'create' | 'add-password' | 'set-password';
    login: string;
    /** dual-user: the login whose privileges are cloned. */
    like?: string;
    /** dual-user: the login exists already (left over); apply re-syncs it. */
    exists?: boolean;
  };
  /** apply: what createLoginLike / changePassword would run; revoke: the step after grace. */
  statements: { apply: string[]; revoke: string[] };
  /** dual-user: what the new login gets from the template (privileges, memberships, attributes). */
  privilegesToClone: string[];
  /** Sessions open now for the current login. */
  openSessions: OpenSession[];
  blockers: string[];
  notes: string[];
  /** What each delivery target would do at each step (describeActions), one line each. */
  delivery?: string[];
  /** With nodes: each node's state now, then what the rotation would check and wait for on each. */
  nodes?: string[];
  plannedAt: string;
}

/** Which credentials a fleet rotation covers; all given conditions must hold. */
export interface FleetSelector {
  ids?: string[];
  engine?: EngineKind;
  /** Every label must match exactly. */
  labels?: Record<string, string>;
  /** Only credentials whose expiresAt is within this many days (rotate before expiry). */
  expiringWithinDays?: number;
}

export interface FleetInput {
  selector: FleetSelector;
  /** Rotations running at once (default 5). */
  concurrency?: number;
  /** Overrides applied to every rotation (grace, timeouts, reason). */
  rotation?: Omit<RotationInput, 'credentialId'>;
  /** Carried across continue-as-new; not for callers. */
  remaining?: string[];
  summary?: FleetSummary;
}

/**
 * A fleet's result. Counts cover every credential; the lists name at most
 * FLEET_LISTED_MAX each (a fleet of 50,000 must not carry 50,000 ids across
 * continue-as-new).
 */
export interface FleetSummary {
  total: number;
  counts: {
    rotated: number;
    rolledBack: number;
    aborted: number;
    failed: number;
    skipped: number;
    /** Rotations running when the fleet was cancelled: left to finish on their own. */
    leftRunning: number;
    /** Credentials the cancelled fleet never started. */
    notStarted: number;
  };
  rotated: string[];
  rolledBack: string[];
  aborted: string[];
  failed: Array<{ credentialId: string; error: string }>;
  skipped: Array<{ credentialId: string; reason: string }>;
  leftRunning: string[];
  /** The fleet was cancelled: it stopped launching and did not continue. */
  cancelled?: boolean;
}

/** Result of the scheduled launcher: the rotation's result, or why none ran. */
export type LaunchResult = RotationResult | { credentialId: string; outcome: 'skipped'; reason: string };
