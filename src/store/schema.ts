import { z } from 'zod';
import { ConfigError } from '../errors';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_CONSUMER_DISCOVERY_MS,
  DEFAULT_GRACE_MS,
  DEFAULT_MIGRATION_TIMEOUT_MS,
} from '../shared/constants';
import { ENGINE_KINDS, LOGIN_NAMINGS, STRATEGIES } from '../shared/types';
import { freezePeriodSchema, rotationWindowSchema } from './window-schema';
import type { CredentialDefinition } from './types';
import { targetIssues, targetSpecSchema } from '../targets/schema';
import { verifyCheckProblem } from '../engines/verify-checks';
import { supportsNodes } from '../engines/topology';

export const DEFAULT_ROTATE_EVERY_DAYS = 90;

/** Letters, digits and . _ - / : only, 1-200 characters. */
export const CREDENTIAL_ID_RE = /^[A-Za-z0-9._\-/:]{1,200}$/;
const ID_MESSAGE = 'must be 1-200 letters, digits or . _ - / :';

const credentialId = z.string({ error: idTypeError }).regex(CREDENTIAL_ID_RE, { error: ID_MESSAGE });

function idTypeError(issue: { input?: unknown }): string {
  return issue.input === undefined ? 'required' : `expected string, received ${typeName(issue.input)}`;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  return typeof v;
}

const nonNegativeMs = z.number().int().nonnegative();

const policySchema = z
  .strictObject({
    graceMs: nonNegativeMs.default(DEFAULT_GRACE_MS),
    migrationTimeoutMs: nonNegativeMs.default(DEFAULT_MIGRATION_TIMEOUT_MS),
    drainTimeoutMs: nonNegativeMs.default(DEFAULT_DRAIN_TIMEOUT_MS),
    consumerDiscoveryMs: nonNegativeMs.default(DEFAULT_CONSUMER_DISCOVERY_MS),
    rotateEveryDays: z.number().positive().default(DEFAULT_ROTATE_EVERY_DAYS),
    /** When rotations may start and old credentials may be revoked; none: any time. */
    windows: z
      .array(rotationWindowSchema)
      .min(1, { error: 'give at least one window, or omit the key' })
      .optional(),
    /** Periods in which nothing starts or is revoked, whatever the windows say. */
    freezes: z.array(freezePeriodSchema).optional(),
  })
  .prefault({});

const baseUsername = z
  .string()
  .min(1, { error: 'must not be empty' })
  .refine((s) => !s.includes('\0'), { error: 'must not contain a NUL character' })
  .refine((s) => [...s].length <= 128, { error: 'must be at most 128 characters' });

const hostSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(255)
  .refine((s) => !/[\0\s]/.test(s), { error: 'must not contain whitespace or NUL' });
const portSchema = z.number().int().min(1).max(65535);

export const credentialDefinitionSchema = z
  .strictObject({
    id: credentialId,
    engine: z.enum(ENGINE_KINDS, { error: `expected one of ${ENGINE_KINDS.join(', ')}` }),
    host: hostSchema,
    port: portSchema,
    database: z.string().min(1, { error: 'must not be empty' }).max(255).optional(),
    adminCredentialId: credentialId.optional(),
    allowedServers: z.array(z.strictObject({ host: hostSchema, port: portSchema })).optional(),
    strategy: z.enum(STRATEGIES, { error: `expected one of ${STRATEGIES.join(', ')}` }).default('auto'),
    loginNaming: z
      .enum(LOGIN_NAMINGS, { error: `expected one of ${LOGIN_NAMINGS.join(', ')}` })
      .default('alternate'),
    baseUsername,
    policy: policySchema,
    verifyChecks: z.array(z.string().min(1, { error: 'must not be empty' })).default(() => []),
    tls: z
      .strictObject({
        mode: z.enum(['verify-full', 'disabled']).optional(),
        caFile: z.string().min(1).optional(),
        serverName: hostSchema.optional(),
      })
      .optional(),
    options: z.record(z.string(), z.unknown()).default(() => ({})),
    labels: z.record(z.string(), z.string()).default(() => ({})),
    /** Where each new version is delivered (src/targets). */
    targets: z.array(targetSpecSchema).optional(),
    expiresAt: z
      .string()
      .refine((s) => !Number.isNaN(Date.parse(s)), { error: 'expected an ISO 8601 date/time' })
      .optional(),
    nodes: z.array(z.strictObject({ host: hostSchema, port: portSchema })).optional(),
    nodeSyncTimeoutMs: z.number().int().positive().optional(),
  })
  .superRefine((d, ctx) => {
    d.verifyChecks.forEach((check, i) => {
      const problem = verifyCheckProblem(d.engine, check);
      if (problem) ctx.addIssue({ code: 'custom', path: ['verifyChecks', i], message: problem });
    });
    if (d.adminCredentialId !== undefined && d.adminCredentialId === d.id) {
      ctx.addIssue({
        code: 'custom',
        path: ['adminCredentialId'],
        message: 'must not be the credential itself',
      });
    }
    if (d.nodes?.length && !supportsNodes(d.engine)) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodes'],
        message: `not supported for engine ${d.engine} yet (define each node as its own credential)`,
      });
    }
    d.nodes?.forEach((n, i) => {
      if (n.port === d.port && n.host.toLowerCase() === d.host.toLowerCase()) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i], message: 'is the primary itself (host/port)' });
      }
    });
    for (const issue of targetIssues(d.engine, d.targets ?? [])) {
      ctx.addIssue({ code: 'custom', path: ['targets', ...issue.path], message: issue.message });
    }
  });

// Compile-time check that the schema produces exactly the interface's shape.
type Parsed = z.output<typeof credentialDefinitionSchema>;
type AssertAssignable<A extends B, B> = A;
export type _SchemaMatchesInterface = AssertAssignable<Parsed, CredentialDefinition> &
  AssertAssignable<CredentialDefinition, Parsed>;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function issueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type': {
      // Never echo the input value: only its type.
      const input = (issue as { input?: unknown }).input;
      if (input === undefined) return 'required';
      const expected = issue.expected === 'int' ? 'integer' : issue.expected;
      return `expected ${expected}, received ${typeName(input)}`;
    }
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return issue.message.replace(/^Invalid input: /, '');
  }
}

/** One "path: problem" line per issue (unknown keys get one line each). */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) lines.push(`${formatPath([...issue.path, k])}: unknown key`);
      continue;
    }
    const path = formatPath(issue.path);
    lines.push(path ? `${path}: ${issueMessage(issue)}` : issueMessage(issue));
  }
  return lines;
}

/**
 * Validates a credential definition and fills in defaults. Throws ConfigError
 * naming every bad key path, e.g. `credential "x": port: expected number`.
 * Values are never echoed (a definition holds no secret, but a misplaced one
 * must not leak through an error message).
 */
export function parseCredentialDefinition(input: unknown): CredentialDefinition {
  input = withoutSchemaReference(input);
  const result = credentialDefinitionSchema.safeParse(input, { reportInput: true });
  if (result.success) return stripUndefined(result.data) as CredentialDefinition;
  const rawId = input && typeof input === 'object' ? (input as { id?: unknown }).id : undefined;
  const who =
    typeof rawId === 'string' && CREDENTIAL_ID_RE.test(rawId)
      ? `credential "${rawId}"`
      : 'credential definition';
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(`${who}: expected an object, received ${typeName(input)}`);
  }
  throw new ConfigError(`${who}: ${formatIssues(result.error.issues).join('; ')}`);
}

/** A definition file may name its JSON Schema ("$schema", for editors); it is not part of the definition. */
function withoutSchemaReference(input: unknown): unknown {
  if (!input || typeof input !== 'object' || Array.isArray(input) || !('$schema' in input)) return input;
  const { $schema: _ignored, ...rest } = input as Record<string, unknown>;
  return rest;
}

/** Drops keys whose value is undefined, so stored definitions compare and serialize cleanly. */
function stripUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as T;
}
