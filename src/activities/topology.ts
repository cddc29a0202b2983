/**
 * The nodes of a definition (issue 13): replicas, reader endpoints, cluster
 * nodes beside the primary. Generic: the engine folders answer "has this
 * node replayed the primary's position?" (engines/topology.ts); the engine
 * interface does the rest (verify, sessions, login lookups) on a connection
 * to each node.
 *
 * - replicate (before promote): wait, bounded by nodeSyncTimeoutMs, until
 *   every node has replayed the change, then verify the pending login (and
 *   the current one, which must keep working during grace) on every node.
 *   A node down or still behind at the bound: VerificationError naming it,
 *   and the rotation is undone.
 * - revoke: the old login's sessions are counted and ended on every node
 *   too; after the drop on the primary has replayed everywhere, the login
 *   must be gone on every node.
 * - node-local accounts (Redis ACL, no replication answers): apply, undo and
 *   revoke are made on every node as on the primary (each node persists its
 *   own), and there is nothing to wait for before the verification.
 */
import { Context } from '@temporalio/activity';
import { ConfigError, TransientError, VerificationError } from '../errors';
import { replicationOf } from '../engines/topology';
import type { Engine, EngineConnection, EngineFactory, Secret } from '../engines/types';
import { resolveTls } from '../engines/tls';
import type { CredentialDefinition, CredentialStore, TopologyNode } from '../store/types';
import { assertAdminScope } from './admin-scope';

export const DEFAULT_NODE_SYNC_TIMEOUT_MS = 60_000;
const POLL_MS = 250;

export function nodeName(n: TopologyNode): string {
  return `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`;
}

/**
 * Admin connections to every node of `def`, built from the primary's. The
 * admin password goes to a node only if the admin may be used there (its
 * own host/port or allowedServers), checked before any connection.
 */
export async function nodeConnections(
  store: CredentialStore,
  def: CredentialDefinition,
  primary: EngineConnection,
): Promise<Array<{ node: TopologyNode; conn: EngineConnection }>> {
  const nodes = def.nodes ?? [];
  if (nodes.length > 0 && def.adminCredentialId) {
    const admin = await store.getDefinition(def.adminCredentialId);
    for (const n of nodes) assertAdminScope({ ...def, host: n.host, port: n.port }, admin);
  }
  // A serverName pinned for the primary names the primary; each node is checked against its own host.
  const tls = def.tls ? { mode: def.tls.mode, caFile: def.tls.caFile } : undefined;
  return nodes.map((node) => ({
    node,
    conn: { ...primary, host: node.host, port: node.port, tls: resolveTls(tls, node.host) },
  }));
}

/** The heartbeat details of the replicate step while it waits (shown by status). */
export interface ReplicateProgress {
  /** Node ("host:port") → how far it is, e.g. "replayed 0/3000148 of 0/30001A0, 88 bytes behind (replay paused)". */
  waitingFor: Record<string, string>;
  /** How long the step has waited so far, and its bound (nodeSyncTimeoutMs). */
  waitedMs: number;
  timeoutMs: number;
}

type Nodes = Awaited<ReturnType<typeof nodeConnections>>;

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not in an activity (unit tests)
  }
}

/**
 * Waits until every node has replayed what the primary has done so far, up
 * to `timeoutMs`. Returns how long it waited per node (ms). Throws
 * VerificationError naming each node still behind (or down) at the bound.
 */
export async function waitForReplay(
  def: CredentialDefinition,
  primary: EngineConnection,
  nodes: Nodes,
  timeoutMs: number,
): Promise<Record<string, number>> {
  const replication = replicationOf(def.engine);
  if (!replication || nodes.length === 0) return {};
  const position = await replication.primaryPosition(primary);
  const started = Date.now();
  const waited: Record<string, number> = {};
  const behind = new Map<string, string>(nodes.map(({ node }) => [nodeName(node), 'not asked yet']));
  for (;;) {
    for (const { node, conn } of nodes) {
      const name = nodeName(node);
      if (!behind.has(name)) continue;
      try {
        const p = await replication.progress(conn, position);
        if (p.caughtUp) {
          behind.delete(name);
          waited[name] = Date.now() - started;
        } else behind.set(name, p.detail);
      } catch (err) {
        behind.set(name, `unreachable: ${(err as Error).message}`);
      }
    }
    if (behind.size === 0) return waited;
    // Read by `db-rotator status` / `rotate --wait` from describe() (rotation-view.ts): which
    // node is behind and how far, no secret. Heartbeats never enter the workflow's history.
    const progress: ReplicateProgress = {
      waitingFor: Object.fromEntries(behind),
      waitedMs: Date.now() - started,
      timeoutMs,
    };
    heartbeat(progress);
    if (Date.now() - started >= timeoutMs) {
      const list = [...behind].map(([n, d]) => `${n} ${d}`).join('; ');
      throw new VerificationError(
        `node(s) of credential "${def.id}" did not replay the change within ${timeoutMs} ms: ${list}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** One node in a dry run: `problem` (would block preflight) or its `state` now. */
export interface NodeSurvey {
  node: string;
  problem?: string;
  state?: string;
}

/** The engine interface on every node of a definition, one short-lived engine per node and call. */
export class NodeEngines {
  constructor(
    private readonly createEngine: EngineFactory,
    private readonly def: CredentialDefinition,
    private readonly nodes: Nodes,
  ) {}

  /** Runs `fn` on every node in turn; returns each node's result and how long it took (ms). */
  private async each<T>(
    fn: (engine: Engine, node: TopologyNode, conn: EngineConnection) => Promise<T>,
  ): Promise<Array<{ node: TopologyNode; result: T; ms: number }>> {
    const out: Array<{ node: TopologyNode; result: T; ms: number }> = [];
    for (const { node, conn } of this.nodes) {
      const started = Date.now();
      const engine = this.createEngine(this.def.engine, conn);
      try {
        out.push({ node, result: await fn(engine, node, conn), ms: Date.now() - started });
      } catch (err) {
        // A driver's error ("Connection terminated unexpectedly") does not say which server; the
        // operator must see that it is this node, not the primary. Same error, same class.
        const name = `node ${nodeName(node)}`;
        if (err instanceof Error && !err.message.includes(name)) err.message = `${name}: ${err.message}`;
        throw err;
      } finally {
        await engine.close();
      }
    }
    return out;
  }

  /**
   * Node-local accounts (Redis ACL): makes on every node the change just
   * made on the primary. Replicating engines: nothing (the nodes replay it).
   */
  async sameChange(fn: (engine: Engine) => Promise<void>): Promise<void> {
    if (replicationOf(this.def.engine)) return;
    await this.each((engine) => fn(engine));
  }

  /** Every node answers and knows `login` (preflight: a missing node blocks before anything changes). */
  async check(login: string): Promise<void> {
    const id = this.def.id;
    await this.each(async (engine, node) => {
      const exists = await engine.loginExists(login).catch((err: Error) => {
        throw new ConfigError(
          `node ${nodeName(node)} of credential "${id}" cannot be reached: ${err.message}`,
        );
      });
      if (!exists)
        throw new ConfigError(`node ${nodeName(node)} of credential "${id}" has no login "${login}"`);
    });
  }

  /**
   * Dry run: what every node says now, changing nothing — whether it answers
   * and knows `login` (else `problem`, preflight's blocker) and, given the
   * primary's `position`, how far it is from it.
   */
  async survey(login: string, position?: string): Promise<NodeSurvey[]> {
    const replication = replicationOf(this.def.engine);
    const done = await this.each(async (engine, node, conn): Promise<Omit<NodeSurvey, 'node'>> => {
      try {
        if (!(await engine.loginExists(login))) return { problem: `has no login "${login}"` };
        if (!replication || position === undefined) return { state: `has "${login}"` };
        const p = await replication.progress(conn, position);
        return { state: `has "${login}"; ${p.caughtUp ? 'caught up' : 'behind'}: ${p.detail}` };
      } catch (err) {
        return { problem: `cannot be reached: ${(err as Error).message}` };
      }
    });
    return done.map((d) => ({ node: nodeName(d.node), ...d.result }));
  }

  /** Logs in as each secret on every node (fresh connections, the verify checks); ms per node. */
  async verify(secrets: Secret[]): Promise<Record<string, number>> {
    const checks = this.def.verifyChecks;
    const done = await this.each(async (engine, node) => {
      for (const secret of secrets) {
        await engine.verifyLogin(secret, { checks }).catch((err: unknown) => {
          if (err instanceof VerificationError) {
            throw new VerificationError(`node ${nodeName(node)}: ${err.message}`);
          }
          throw err;
        });
      }
    });
    return Object.fromEntries(done.map((d) => [nodeName(d.node), d.ms]));
  }

  /** Open sessions of `login` on every node together. */
  async countSessions(login: string): Promise<number> {
    const counts = await this.each(async (engine) => (await engine.listSessions(login)).length);
    return counts.reduce((n, c) => n + c.result, 0);
  }

  /** Ends the sessions of `login` on every node (the drop on the primary ends only the primary's). */
  async endSessions(login: string): Promise<void> {
    await this.each((engine) => engine.endSessions(login));
  }

  /** After a drop has replayed: the login is gone on every node (else retried). */
  async confirmGone(login: string): Promise<void> {
    await this.each(async (engine, node) => {
      if (await engine.loginExists(login)) {
        throw new TransientError(`login "${login}" still exists on node ${nodeName(node)} after the drop`);
      }
    });
  }
}
