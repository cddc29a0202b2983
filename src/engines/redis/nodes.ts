/**
 * Redis nodes (issue 13): ACLs are node-local — neither replicated to
 * replicas nor shared by cluster nodes — so there is no replication
 * position to wait for. The rotation makes each ACL change (apply, undo,
 * revoke) on every listed node itself, each node persisting it per
 * `options.persist`, and verifies the login on each. The engine refuses a
 * node with replicas attached (or a replica) unless the definition says
 * `options.nodeLocalAcl: true`: with `nodes`, that acknowledges that every
 * node clients use is listed.
 */
import type { NodeTopology } from '../topology';

export const redisNodes: NodeTopology = {};
