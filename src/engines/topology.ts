/**
 * Topology (issue 13): the servers beside the primary that applications
 * use — replicas, reader endpoints, cluster nodes — and the one question the
 * rotation asks of each: has it got the change yet? Generic code
 * (src/activities/topology.ts) drives every engine through this interface;
 * the engine-specific answers live in the engine folders.
 *
 * Two kinds of engine:
 * - accounts replicate (PostgreSQL, MySQL/MariaDB): the change is made on the
 *   primary only; each node is asked whether it has replayed the primary's
 *   position taken after the change.
 * - node-local accounts (Redis ACL): the change is made on every node itself;
 *   there is nothing to wait for.
 */
import type { EngineKind } from '../shared/types';
import type { EngineConnection } from './types';
import { postgresReplicas } from './postgres/replicas';
import { mysqlReplicas } from './mysql/replicas';
import { redisNodes } from './redis/nodes';

/** How far one node is, for status lines and errors (no secret). */
export interface NodeProgress {
  /** The node has replayed everything up to the position asked about. */
  caughtUp: boolean;
  /** How far, e.g. "replayed 0/3000148 of 0/30001A0, 88 bytes behind (replay paused)". */
  detail: string;
}

export interface ReplicationTopology {
  /** What "has replayed the change" means on this engine, for dry runs (e.g. "replay LSN ≥ …"). */
  readonly waitsFor: string;
  /** The position (engine syntax: LSN, GTID set) of everything the primary has done so far. */
  primaryPosition(primary: EngineConnection): Promise<string>;
  /**
   * Where `node` is relative to `position`. Read-only. Throws when the node
   * cannot be reached (the caller treats that as "not there yet" until its
   * bound).
   */
  progress(node: EngineConnection, position: string): Promise<NodeProgress>;
}

/** What an engine says about nodes; replication absent: its accounts are node-local (change every node). */
export interface NodeTopology {
  replication?: ReplicationTopology;
}

// Engines absent here (MongoDB: a replica set replicates users, but its nodes are not asked yet)
// refuse `nodes` in a definition.
const TOPOLOGIES: Partial<Record<EngineKind, NodeTopology>> = {
  postgres: { replication: postgresReplicas },
  mysql: { replication: mysqlReplicas },
  redis: redisNodes,
};

/** May a definition of this engine list nodes? */
export function supportsNodes(kind: EngineKind): boolean {
  return TOPOLOGIES[kind] !== undefined;
}

/** The engine's replication answers; undefined: its accounts are node-local (change every node). */
export function replicationOf(kind: EngineKind): ReplicationTopology | undefined {
  return TOPOLOGIES[kind]?.replication;
}
