/** Human-readable output of the CLI: dry-run plans, rotation views and status. */
import type { RotationView } from '../rotation-view';
import type { ConsumerStatus, RotationDryRun, RotationStatus } from '../shared/types';

/** A dry run with the consumers the credential's latest rotation knows (if any). */
export type DryRunReport = RotationDryRun & { knownConsumers: ConsumerStatus[] };

export function formatDryRun(d: DryRunReport): string {
  const lines = [`dry run      ${d.credentialId} (nothing was changed)`];
  lines.push(`engine       ${d.engine}${d.serverVersion ? ` (${d.serverVersion})` : ''}`);
  if (d.strategy) lines.push(`strategy     ${d.strategy} — ${d.strategyReason ?? ''}`);
  if (d.plan) lines.push(...planLines(d.plan));
  if (d.loginToCreateOrAlter) lines.push(`login        ${loginAction(d.loginToCreateOrAlter)}`);
  lines.push(d.blockers.length === 0 ? 'blockers     none' : `blockers     ${d.blockers.length}`);
  for (const b of d.blockers) lines.push(`  ✗ ${b}`);
  const list = (title: string, items: string[]) => {
    lines.push(`${title} (${items.length})`);
    for (const item of items) lines.push(`  ${item}`);
  };
  list('apply statements', d.statements.apply);
  list('revoke statements, after grace', d.statements.revoke);
  if (d.nodes) {
    lines.push(`nodes (${d.plan?.nodes?.length ?? '?'})`);
    for (const line of d.nodes) lines.push(`  ${line}`);
  }
  if (d.strategy === 'dual-user') list('privileges to clone', d.privilegesToClone);
  list(`open sessions of "${d.plan?.fromUsername ?? 'the login'}"`, d.openSessions.map(sessionLine));
  list(
    'consumers known from the last rotation',
    d.knownConsumers.map((c) => `${c.consumerId} v${c.version} (seen ${c.lastSeen})`),
  );
  list('notes', d.notes);
  lines.push(d.blockers.length === 0 ? 'result       the rotation can run' : 'result       BLOCKED');
  return lines.join('\n');
}

function planLines(p: NonNullable<DryRunReport['plan']>): string[] {
  const lines = [
    `versions     ${p.fromVersion} (${p.fromUsername}) → ${p.toVersion} (${p.toUsername})`,
    `timings      grace ${ms(p.graceMs)}, migration timeout ${ms(p.migrationTimeoutMs)}, drain timeout ${ms(p.drainTimeoutMs)}`,
  ];
  if (p.emergency) lines.push(`EMERGENCY    ${p.emergency.reason}`);
  return lines;
}

function loginAction(l: NonNullable<DryRunReport['loginToCreateOrAlter']>): string {
  if (l.action === 'create')
    return `${l.exists ? 're-sync existing' : 'create'} "${l.login}" like "${l.like ?? ''}"`;
  return `${l.action === 'add-password' ? 'add a second password to' : 'replace the password of'} "${l.login}"`;
}

function sessionLine(s: DryRunReport['openSessions'][number]): string {
  return `${s.id} ${s.username}${s.clientAddress ? ` from ${s.clientAddress}` : ''}${s.state ? `, ${s.state}` : ''}${s.ageSeconds !== undefined ? `, ${s.ageSeconds} s` : ''}`;
}

function ms(value: number): string {
  if (value % 3_600_000 === 0) return `${value / 3_600_000}h`;
  if (value % 60_000 === 0) return `${value / 60_000}m`;
  if (value % 1000 === 0) return `${value / 1000}s`;
  return `${value}ms`;
}

export function formatView(v: RotationView): string {
  const lines = [`run          ${v.workflowId} ${v.runId} (${v.execution})`];
  if (v.outcome) lines.push(`outcome      ${v.outcome}`);
  if (v.cause) lines.push(`cause        ${v.cause}`);
  if (v.stuck) lines.push(`STUCK        ${v.stuck}`);
  if (v.retrying) lines.push(`retrying     ${v.retrying}`);
  if (v.status) lines.push(formatStatus(v.status));
  else lines.push(`phase        ${v.phase}`);
  if (v.replicate) lines.push(...replicateLines(v.replicate));
  return lines.join('\n');
}

/** Phase replicate waiting: each node still behind and how far (from the step's last heartbeat). */
export function replicateLines(r: NonNullable<RotationView['replicate']>): string[] {
  const nodes = Object.entries(r.waitingFor);
  const lines = [
    `replicate    waiting ${(r.waitedMs / 1000).toFixed(1)} s of ${ms(r.timeoutMs)} for ${nodes.length} node(s)`,
  ];
  for (const [node, detail] of nodes) lines.push(`  ✗ ${node} ${detail}`);
  if (r.at) lines.push(`  (nodes as of ${r.at})`);
  return lines;
}

export function formatStatus(s: RotationStatus): string {
  const lines = [
    `credential   ${s.credentialId}`,
    `phase        ${s.phase}${s.outcome ? ` (${s.outcome})` : ''}`,
  ];
  if (s.needsOperator) {
    lines.push(
      `NEEDS OPERATOR  step ${s.needsOperator.step} keeps failing since ${s.needsOperator.since}: ${s.needsOperator.error}`,
      `             db-rotator resolve ${s.credentialId} --retry | --abandon --reason <why>`,
    );
  }
  if (s.plan) lines.push(...statusPlanLines(s.plan));
  if (s.migrationDeadline) lines.push(`migrate by   ${s.migrationDeadline}`);
  if (s.graceDeadline) lines.push(`grace until  ${s.graceDeadline}`);
  if (s.abortRequested) lines.push(`abort        ${s.abortRequested}`);
  if (s.rollbackRequested) lines.push(`rollback     ${s.rollbackRequested}`);
  if (s.lastError) lines.push(`last error   ${s.lastError}`);
  lines.push(...consumerLines(s));
  lines.push('phases');
  for (const p of s.phases) {
    const ms = p.endedAt ? `${Date.parse(p.endedAt) - Date.parse(p.startedAt)} ms` : 'running';
    lines.push(`  ${p.phase.padEnd(15)} ${ms}`);
  }
  return lines.join('\n');
}

function statusPlanLines(plan: NonNullable<RotationStatus['plan']>): string[] {
  const lines = [
    `engine       ${plan.engine} (${plan.serverVersion})`,
    `strategy     ${plan.strategy} — ${plan.strategyReason}`,
    `versions     ${plan.fromVersion} (${plan.fromUsername}) → ${plan.toVersion} (${plan.toUsername})`,
  ];
  if (plan.emergency) lines.push(`EMERGENCY    ${plan.emergency.reason}`);
  for (const w of plan.warnings) lines.push(`warning      ${w}`);
  return lines;
}

function consumerLines(s: RotationStatus): string[] {
  const gone = s.consumers.filter((c) => c.gone).length;
  const lines = [
    `consumers    ${s.consumers.length} known, ${s.consumersBehind.length} behind, ${gone} gone` +
      (s.consumersOverflow ? `, ${s.consumersOverflow} reports over the cap not stored` : ''),
  ];
  for (const c of s.consumers) {
    const mark = c.gone ? '-' : s.consumersBehind.includes(c.consumerId) ? '✗' : '✓';
    lines.push(`  ${mark} ${c.consumerId} v${c.version} (seen ${c.lastSeen}${c.gone ? ', gone' : ''})`);
  }
  return lines;
}
