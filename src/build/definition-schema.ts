import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { credentialDefinitionSchema } from '../store/schema';

/**
 * The JSON Schema of a credential definition, generated from the zod schema
 * (the one the CLI and worker validate with) plus one sentence per field
 * from FIELD_DOCS. Checked in at schema/credential-definition.schema.json for
 * editors; test/build/definition-schema.test.ts fails when it is out of date
 * or a field has no explanation. Regenerate: `npm run schema`.
 */
export const FIELD_DOCS: Record<string, string> = {
  $schema: 'Optional: path or URL of this JSON Schema, for editors. Ignored by db-rotator.',
  id: 'Stable id of the credential, e.g. "orders-pg/app": letters, digits and . _ - / : (1-200). Workflow ids and CLI commands use it.',
  engine: 'Database engine: postgres, mysql (also MariaDB), redis or mongodb.',
  host: 'Server host name or address the worker connects to (admin and verification logins).',
  port: 'Server port.',
  database:
    'PostgreSQL: the database the login works in; MySQL/MariaDB: default schema for verification; MongoDB: the authentication database of the login; Redis: the db index the application SELECTs. Optional for Redis.',
  adminCredentialId:
    'Id of the admin credential (another definition in the store) used to manage this login. Absent: this credential is an admin and rotates itself.',
  strategy:
    'auto (default: dual-password where the live server supports it, else dual-user), dual-password, dual-user, or single (in place: old clients fail until they reload).',
  loginNaming:
    'dual-user login names: alternate (default; flips between baseUsername and baseUsername_b) or versioned (baseUsername_v<version>).',
  baseUsername: 'The login name on the server (dual-user: the base of both slot names).',
  policy: 'How rotations of this credential run. Every field has a default.',
  'policy.graceMs':
    'How long the old credential stays valid after the switch, in ms (default 86400000 = 24 h): a durable timer.',
  'policy.migrationTimeoutMs':
    'How long to wait for every known consumer to report the new version, in ms (default 3600000 = 1 h).',
  'policy.drainTimeoutMs':
    "At revoke: how long the old login's sessions may end by themselves before they are ended, in ms (default 300000 = 5 min).",
  'policy.consumerDiscoveryMs':
    'How long migrate waits at least for consumers to report (their heartbeat period), in ms (default 60000).',
  'policy.rotateEveryDays':
    'Period of `schedule create` (default 90): the first run is this many days after the last rotation or import.',
  'policy.windows':
    'When rotations may start and old credentials be revoked. Absent: any time. Schedules and fleets wait for a window; a manual start outside one needs --outside-window --reason; emergencies ignore windows.',
  'policy.windows[].days': 'Days of the week the window starts on: sun, mon, tue, wed, thu, fri, sat.',
  'policy.windows[].start':
    'Local start time "HH:MM" in timeZone. A time skipped by DST starts right after the jump.',
  'policy.windows[].end':
    'Local end time "HH:MM" (exclusive; "24:00" = end of day). Before start: the window ends the next day.',
  'policy.windows[].timeZone': 'IANA time zone of start and end, e.g. "Europe/Berlin" (DST-aware).',
  'policy.freezes': 'Periods in which no rotation starts and nothing is revoked, whatever the windows say.',
  'policy.freezes[].from':
    'Start of the freeze: ISO 8601 date-time with offset, e.g. "2026-12-20T00:00:00+01:00".',
  'policy.freezes[].to': 'End of the freeze (exclusive), same format; after from.',
  'policy.freezes[].reason': 'Why (shown by `window`, `status` and a refused start).',
  verifyChecks:
    "Extra read-only checks the new credential must pass before the switch, in the engine's own syntax (SQL for postgres/mysql, a JSON command for mongodb, a command line for redis).",
  options:
    'Engine connection options. postgres/mysql: ssl (true or TLS options). mysql: accountHost (the login\'s host part, default "%"), or accountHosts (several host variants of the login, e.g. ["10.%", "localhost"], rotated together as one login). redis: tls, persist (auto|aclfile|config|none), nodeLocalAcl. mongodb: authSource (admin\'s auth db), authMechanism, replicaSet, directConnection, tls, tlsCAFile, tlsCertificateKeyFile.',
  allowedServers:
    'Admin credentials only: further servers (host and port) this admin may be used against, besides its own host/port. Any other server is refused before a connection is opened.',
  'allowedServers[].host': 'Host name or address of an allowed server, as dependent definitions name it.',
  'allowedServers[].port': 'Port of the allowed server.',
  nodes:
    "Other servers of the same deployment (replicas, reader endpoints, cluster nodes). PostgreSQL/MySQL: promote waits until each has replayed the change, then the new login is verified on each; revoke ends the old login's sessions there and confirms the drop. Redis: every ACL change is made on each node (ACLs are node-local; set options.nodeLocalAcl). Not for MongoDB yet. The admin is used on each node, so each must be in the admin's scope (its host/port or allowedServers).",
  'nodes[].host': 'Host name or address of the node.',
  'nodes[].port': 'Port of the node.',
  nodeSyncTimeoutMs:
    'With nodes: how long promote waits for every node to have the change, in ms (default 60000). A node down or behind after that blocks promote and the rotation is undone.',
  tls: 'Transport security of every connection to this server (admin, verification, consumers). Default: TLS with certificate and host-name verification (verify-full).',
  'tls.mode':
    'verify-full (default) or disabled. disabled sends passwords in clear text; the dry-run plan and status show it as a warning.',
  'tls.caFile':
    'PEM file of the CA that signed the server certificate (default: ROTATOR_TLS_CA_FILE, else the system CAs).',
  'tls.serverName':
    'Name expected in the server certificate when it differs from host (not supported by the MySQL driver).',
  targets:
    'Where each new version is delivered for applications: file, pgbouncer, aws-secrets-manager, webhook (see README, Connect your application).',
  labels: 'Free-form key/value labels; `fleet rotate --label k=v` selects by them.',
  expiresAt:
    'Optional expiry date of the current credential (ISO 8601); `schedule create-expiry-sweep` rotates credentials that expire soon.',
};

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  description?: string;
  [k: string]: unknown;
};

export function definitionJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(credentialDefinitionSchema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  schema.properties = { $schema: { type: 'string' }, ...schema.properties };
  describe(schema, '');
  return {
    $schema: schema.$schema,
    title: 'db-rotator credential definition',
    description: 'A credential db-rotator rotates: where it lives and how it is rotated. Holds no secret.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

function describe(node: JsonSchema, path: string): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = path ? `${path}.${key}` : key;
    const doc = FIELD_DOCS[p];
    if (!doc) throw new Error(`FIELD_DOCS has no explanation for "${p}"`);
    child.description = doc;
    describe(child, p);
    if (child.items) describe(child.items, `${p}[]`);
  }
}

/** Every documented field path, for tests (schema keys ↔ docs ↔ examples). */
export function schemaFieldPaths(node: JsonSchema = definitionJsonSchema(), path = ''): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const p = path ? `${path}.${key}` : key;
    out.push(p, ...schemaFieldPaths(child, p));
    if (child.items) out.push(...schemaFieldPaths(child.items, `${p}[]`));
  }
  return out;
}

export const SCHEMA_FILE = join('schema', 'credential-definition.schema.json');

export function renderSchema(): string {
  return `${JSON.stringify(definitionJsonSchema(), null, 2)}\n`;
}

if (require.main === module) {
  const root = process.argv[2] ?? process.cwd();
  writeFileSync(join(root, SCHEMA_FILE), renderSchema());
  console.log(`wrote ${SCHEMA_FILE}`);
}
