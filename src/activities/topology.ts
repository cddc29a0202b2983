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

type Nodes = Awaited<ReturnType<typeof nodeConnections>>;

async function onNode<T>(
  createEngine: EngineFactory,
  def: CredentialDefinition,
  conn: EngineConnection,
  fn: (engine: Engine) => Promise<T>,
): Promise<T> {
  const engine = createEngine(def.engine, conn);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not in an activity (unit tests)
  }
}

/**
 * Every node answers and knows `login` (preflight: a missing node blocks
 * before anything is changed).
 */
export async function checkNodes(
  createEngine: EngineFactory,
  def: CredentialDefinition,
  nodes: Nodes,
  login: string,
): Promise<void> {
  for (const { node, conn } of nodes) {
    let exists: boolean;
    try {
      exists = await onNode(createEngine, def, conn, (e) => e.loginExists(login));
    } catch (err) {
      throw new ConfigError(
        `node ${nodeName(node)} of credential "${def.id}" cannot be reached: ${(err as Error).message}`,
      );
    }
    if (!exists) {
      throw new ConfigError(`node ${nodeName(node)} of credential "${def.id}" has no login "${login}"`);
    }
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
    heartbeat({ waitingFor: Object.fromEntries(behind) });
    if (Date.now() - started >= timeoutMs) {
      const list = [...behind].map(([n, d]) => `${n} ${d}`).join('; ');
      throw new VerificationError(
        `node(s) of credential "${def.id}" did not replay the change within ${timeoutMs} ms: ${list}`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Logs in as each secret on every node (fresh connections, the engine's
 * verify checks). Returns how long each node took (ms).
 */
export async function verifyOnNodes(
  createEngine: EngineFactory,
  def: CredentialDefinition,
  nodes: Nodes,
  secrets: Secret[],
): Promise<Record<string, number>> {
  const took: Record<string, number> = {};
  for (const { node, conn } of nodes) {
    const started = Date.now();
    await onNode(createEngine, def, conn, async (engine) => {
      for (const secret of secrets) {
        try {
          await engine.verifyLogin(secret, { checks: def.verifyChecks });
        } catch (err) {
          if (err instanceof VerificationError) {
            throw new VerificationError(`node ${nodeName(node)}: ${err.message}`);
          }
          throw err;
        }
      }
    });
    took[nodeName(node)] = Date.now() - started;
  }
  return took;
}

/** Open sessions of `login` on every node. */
export async function countOnNodes(
  createEngine: EngineFactory,
  def: CredentialDefinition,
  nodes: Nodes,
  login: string,
): Promise<number> {
  let n = 0;
  for (const { conn } of nodes) {
    n += await onNode(createEngine, def, conn, async (e) => (await e.listSessions(login)).length);
  }
  return n;
}

/** Ends the sessions of `login` on every node (the drop on the primary ends only the primary's). */
export async function endOnNodes(
  createEngine: EngineFactory,
  def: CredentialDefinition,
  nodes: Nodes,
  login: string,
): Promise<void> {
  for (const { conn } of nodes) await onNode(createEngine, def, conn, (e) => e.endSessions(login));
}

/** After a drop has replayed: the login is gone on every node (else retried). */
export async function confirmGoneOnNodes(
  createEngine: EngineFactory,
  def: CredentialDefinition,
  nodes: Nodes,
  login: string,
): Promise<void> {
  for (const { node, conn } of nodes) {
    if (await onNode(createEngine, def, conn, (e) => e.loginExists(login))) {
      throw new TransientError(`login "${login}" still exists on node ${nodeName(node)} after the drop`);
    }
  }
}
