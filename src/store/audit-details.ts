import { StoreStateError } from '../errors';
import type { Mutation, TransitionContext } from './snapshot';
import type { AuditRecord } from './types';

// Audit records of the transitions, with caller-supplied details stripped of secrets.

const SECRET_KEY_RE = /passw|^pass$|pwd|secret|token|apikey|api_key|private|^key$/i;

/**
 * Defence in depth: audit details are caller-supplied, so any key that looks
 * like it holds a secret has its value replaced. Depth-limited, cycle-safe.
 */
export function sanitizeDetails(details: Record<string, unknown>): Record<string, unknown> {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v !== 'object') {
      return typeof v === 'bigint'
        ? v.toString()
        : typeof v === 'function' || typeof v === 'symbol'
          ? undefined
          : v;
    }
    if (seen.has(v) || depth > 8) return '[omitted]';
    seen.add(v);
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (SECRET_KEY_RE.test(k)) out[k] = '[redacted]';
      else {
        const w = walk(x, depth + 1);
        if (w !== undefined) out[k] = w;
      }
    }
    return out;
  };
  return walk(details, 0) as Record<string, unknown>;
}

/** The audit record of one state change. */
export function record(
  ctx: TransitionContext,
  credentialId: string,
  action: string,
  version?: number,
  details?: Record<string, unknown>,
): AuditRecord {
  const r: AuditRecord = { at: ctx.now, actor: ctx.actor, credentialId, action };
  if (version !== undefined) r.version = version;
  if (details && Object.keys(details).length > 0) r.details = sanitizeDetails(details);
  return r;
}

/** A free-standing audit record (no state change). */
export function auditOnly(input: Omit<AuditRecord, 'at'>, now: string): Mutation<void> {
  if (!input.actor || !input.credentialId || !input.action) {
    throw new StoreStateError('audit record needs actor, credentialId and action');
  }
  const r: AuditRecord = {
    at: now,
    actor: input.actor,
    credentialId: input.credentialId,
    action: input.action,
  };
  if (input.version !== undefined) r.version = input.version;
  if (input.details && Object.keys(input.details).length > 0) r.details = sanitizeDetails(input.details);
  return { result: undefined, audit: [r] };
}
