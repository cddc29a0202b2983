import { z } from 'zod';
import type { EngineKind } from '../shared/types';

/**
 * The `targets` of a credential definition: where each new version is
 * delivered. Validated with the definition (src/store/schema.ts), so a bad
 * target is refused when the definition is stored, not mid-rotation.
 * Nothing here is secret: a webhook's signing key is named (an environment
 * variable of the worker), never written into the definition.
 */

export const FILE_RENDERINGS = ['dotenv', 'uri', 'pgpass', 'jdbc'] as const;
export type FileRendering = (typeof FILE_RENDERINGS)[number];

export const LIFECYCLE_EVENTS = [
  'pending',
  'promoted',
  'rolled-back',
  'revoked',
  'failed',
  'needs-operator',
] as const;

const absolutePath = z
  .string()
  .min(2, { error: 'must be an absolute path' })
  .refine((s) => s.startsWith('/') && !s.includes('\0') && !s.split('/').includes('..'), {
    error: 'must be an absolute path without ".." or NUL',
  });

// Kept as the string given (a stored definition is parsed again on load); ./file parses it.
const octalMode = z.string().regex(/^0?[0-7]{3}$/, { error: 'expected an octal mode like "0600"' });

/** A user/group name (looked up in /etc/passwd, /etc/group) or a numeric id. */
const principal = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}\$?$/i, { error: 'expected a user/group name or number' }),
]);

const hostName = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !/[\0\s]/.test(s), { error: 'must not contain whitespace or NUL' });
const port = z.number().int().min(1).max(65535);

const credentialRef = z.string().regex(/^[A-Za-z0-9._\-/:]{1,200}$/, { error: 'expected a credential id' });

export const fileTargetSchema = z.strictObject({
  type: z.literal('file'),
  /** One directory per credential; created if missing. */
  dir: absolutePath,
  owner: principal.optional(),
  group: principal.optional(),
  dirMode: octalMode.default('0700'),
  fileMode: octalMode.default('0600'),
  renderings: z.array(z.enum(FILE_RENDERINGS)).default(() => []),
  /** Where applications connect, when not the database itself (e.g. through PgBouncer). */
  host: hostName.optional(),
  port: port.optional(),
});

export const pgbouncerTargetSchema = z.strictObject({
  type: z.literal('pgbouncer'),
  /** PgBouncer's auth_file (userlist.txt); lines of other logins are kept as they are. */
  authFile: absolutePath,
  host: hostName.default('127.0.0.1'),
  port: port.default(6432),
  /** Store credential of a PgBouncer admin_users login for RELOAD; default: the credential's admin. */
  consoleCredentialId: credentialRef.optional(),
  /** Database name used to verify logins through PgBouncer; default: the credential's database. */
  verifyDatabase: z.string().min(1).max(255).optional(),
});

export const awsSecretsManagerTargetSchema = z.strictObject({
  type: z.literal('aws-secrets-manager'),
  /** Secret name or ARN. */
  secretId: z.string().min(1).max(2048),
  /** Default: the SDK's chain (AWS_REGION, profile...). */
  region: z.string().min(1).max(64).optional(),
  /** Default: the SDK's chain (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL). */
  endpoint: z.url().optional(),
  /** Create the secret (with the current version as AWSCURRENT) when it does not exist. */
  createIfMissing: z.boolean().default(true),
});

export const webhookTargetSchema = z
  .strictObject({
    type: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/ }),
    /** Name of the worker's environment variable holding this endpoint's HMAC key. */
    signingSecretEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, { error: 'expected an environment variable name' }),
    events: z.array(z.enum(LIFECYCLE_EVENTS)).default(() => [...LIFECYCLE_EVENTS]),
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** Plain http to a host other than loopback must be asked for. */
    allowInsecureHttp: z.boolean().default(false),
  })
  .superRefine((t, ctx) => {
    const u = new URL(t.url);
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
    if (u.protocol === 'http:' && !loopback && !t.allowInsecureHttp) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'plain http to a non-loopback host needs allowInsecureHttp: true',
      });
    }
    if (u.username || u.password) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not contain credentials' });
    }
  });

export const targetSpecSchema = z.discriminatedUnion(
  'type',
  [fileTargetSchema, pgbouncerTargetSchema, awsSecretsManagerTargetSchema, webhookTargetSchema],
  { error: 'expected one of file, pgbouncer, aws-secrets-manager, webhook' },
);

export type FileTargetSpec = z.output<typeof fileTargetSchema>;
export type PgbouncerTargetSpec = z.output<typeof pgbouncerTargetSchema>;
export type AwsSecretsManagerTargetSpec = z.output<typeof awsSecretsManagerTargetSchema>;
export type WebhookTargetSpec = z.output<typeof webhookTargetSchema>;
export type TargetSpec = z.output<typeof targetSpecSchema>;
export type TargetKind = TargetSpec['type'];

/** Rules between a credential and its targets (run from the definition schema's superRefine). */
export function targetIssues(
  engine: EngineKind,
  targets: readonly TargetSpec[],
): Array<{ path: (string | number)[]; message: string }> {
  const issues: Array<{ path: (string | number)[]; message: string }> = [];
  const dirs = new Set<string>();
  targets.forEach((t, i) => {
    if (t.type === 'file') {
      if (dirs.has(t.dir)) issues.push({ path: [i, 'dir'], message: 'the same directory is listed twice' });
      dirs.add(t.dir);
      for (const r of t.renderings) {
        if (r === 'pgpass' && engine !== 'postgres')
          issues.push({ path: [i, 'renderings'], message: 'pgpass is for postgres credentials only' });
        if (r === 'jdbc' && engine !== 'postgres' && engine !== 'mysql')
          issues.push({
            path: [i, 'renderings'],
            message: 'jdbc is for postgres and mysql credentials only',
          });
      }
    }
    if (t.type === 'pgbouncer' && engine !== 'postgres') {
      issues.push({ path: [i, 'type'], message: 'pgbouncer fronts postgres credentials only' });
    }
  });
  return issues;
}

/** One line naming a target for plans and status (no secret: a webhook URL loses its query). */
export function describeTargetSpec(t: TargetSpec): string {
  switch (t.type) {
    case 'file':
      return `file ${t.dir}`;
    case 'pgbouncer':
      return `pgbouncer ${t.host}:${t.port} (${t.authFile})`;
    case 'aws-secrets-manager':
      return `aws-secrets-manager ${t.secretId}`;
    case 'webhook': {
      const u = new URL(t.url);
      return `webhook ${u.origin}${u.pathname}`;
    }
  }
}
