/**
 * The nodes part of a dry run (issue 13): every node of the definition, what
 * it says now (answers, has the login, how far behind the primary) and what
 * the rotation would check and wait for on it. Nothing changes: the nodes are
 * only read. A node that is down or lacks the login is a blocker, as it is
 * in preflight.
 */
import { replicationOf } from '../engines/topology';
import type { EngineConnection } from '../engines/types';
import type { RotationPlan } from '../shared/types';
import type { CredentialDefinition } from '../store/types';
import type { Blockers } from './plan';
import type { RotationDeps } from './rotation';
import { DEFAULT_NODE_SYNC_TIMEOUT_MS, NodeEngines, nodeConnections, nodeName } from './topology';

/** One line per node with its state now, then (with a plan) what each step would do there. */
export async function dryRunNodes(
  deps: RotationDeps,
  def: CredentialDefinition,
  primary: EngineConnection,
  login: string,
  plan: RotationPlan | undefined,
  blockers: Blockers,
): Promise<string[]> {
  const nodes = await blockers.guard(() => nodeConnections(deps.store, def, primary));
  if (!nodes) return [];
  const timeoutMs = def.nodeSyncTimeoutMs ?? DEFAULT_NODE_SYNC_TIMEOUT_MS;
  if (plan) {
    // The plan preflight would hand the rotation carries its nodes too.
    plan.nodes = nodes.map(({ node }) => nodeName(node));
    plan.nodeSyncTimeoutMs = timeoutMs;
  }
  const replication = replicationOf(def.engine);
  const position = replication
    ? await replication.primaryPosition(primary).catch(() => undefined)
    : undefined;
  const lines: string[] = [];
  for (const n of await new NodeEngines(deps.createEngine, def, nodes).survey(login, position)) {
    if (n.problem) blockers.addMessage(`node ${n.node} of credential "${def.id}" ${n.problem}`);
    lines.push(`${n.node} now: ${n.problem ?? n.state ?? ''}`);
  }
  if (replication && position === undefined) lines.push("(the primary's position could not be read)");
  if (plan) lines.push(...stepLines(plan, timeoutMs, replication?.waitsFor));
  return lines;
}

/** What the rotation does on every node, step by step (the same for each node). */
function stepLines(plan: RotationPlan, timeoutMs: number, waitsFor: string | undefined): string[] {
  const logins =
    plan.strategy === 'single'
      ? `the new credential ("${plan.toUsername}")`
      : `the new and the old credential ("${plan.toUsername}", "${plan.fromUsername}")`;
  const bound = `${timeoutMs / 1000} s`;
  const dropping = plan.strategy === 'dual-user';
  const lines = [
    waitsFor
      ? `on each node, before promote: wait up to ${bound} until ${waitsFor}, then log in with ${logins}`
      : `on each node: apply (and an undo) is made there too (its accounts are node-local); before promote: log in with ${logins}`,
  ];
  const revoke = [
    ...(dropping ? [`end the sessions of "${plan.fromUsername}"`] : []),
    waitsFor ? `wait up to ${bound} until it has the revoke` : 'make the same revoke there',
    ...(dropping ? [`confirm "${plan.fromUsername}" is gone`] : []),
  ];
  lines.push(`on each node, at revoke: ${revoke.join(', then ')}`);
  return lines;
}
