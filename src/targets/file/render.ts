import type { FileRendering } from '../schema';
import type { DeliveredCredential } from '../target';

/**
 * The files one version consists of, name → content. `username`,
 * `password` and `credential.json` always; the renderings on request, in
 * the formats their readers parse (each value escaped for that format).
 */
export function renderFiles(
  c: DeliveredCredential,
  renderings: readonly FileRendering[],
): Map<string, string> {
  const files = new Map<string, string>();
  files.set('username', c.username);
  files.set('password', c.password);
  files.set(
    'credential.json',
    JSON.stringify({
      version: c.version,
      engine: c.engine,
      host: c.host,
      port: c.port,
      database: c.database ?? null,
      username: c.username,
      password: c.password,
    }) + '\n',
  );
  for (const r of renderings) files.set(RENDERING_FILES[r], RENDERERS[r](c));
  return files;
}

export const RENDERING_FILES: Record<FileRendering, string> = {
  dotenv: 'credential.env',
  uri: 'uri',
  pgpass: '.pgpass',
  jdbc: 'jdbc-url',
};

const RENDERERS: Record<FileRendering, (c: DeliveredCredential) => string> = {
  dotenv: (c) => {
    const vars: Array<[string, string]> = [
      ['DB_VERSION', String(c.version)],
      ['DB_HOST', c.host],
      ['DB_PORT', String(c.port)],
      ['DB_NAME', c.database ?? ''],
      ['DB_USER', c.username],
      ['DB_PASSWORD', c.password],
      ['DATABASE_URL', uri(c)],
    ];
    if (c.engine === 'postgres') {
      vars.push(['PGHOST', c.host], ['PGPORT', String(c.port)], ['PGDATABASE', c.database ?? '']);
      vars.push(['PGUSER', c.username], ['PGPASSWORD', c.password]);
    }
    return vars.map(([k, v]) => `${k}=${dotenvQuote(v)}\n`).join('');
  },
  uri: (c) => uri(c) + '\n',
  // hostname:port:database:username:password, with ':' and '\' escaped (libpq's rules).
  pgpass: (c) =>
    [c.host, String(c.port), c.database ?? '*', c.username, c.password].map(pgpassEscape).join(':') + '\n',
  jdbc: (c) => {
    const sub = c.engine === 'mysql' ? 'mysql' : 'postgresql';
    const q = new URLSearchParams({ user: c.username, password: c.password });
    return `jdbc:${sub}://${hostPort(c)}/${encodeURIComponent(c.database ?? '')}?${q.toString()}\n`;
  },
};

const SCHEMES: Record<DeliveredCredential['engine'], string> = {
  postgres: 'postgresql',
  mysql: 'mysql',
  redis: 'redis',
  mongodb: 'mongodb',
};

/** A connection URI (libpq's for PostgreSQL); user and password percent-encoded. */
export function uri(c: DeliveredCredential): string {
  const auth = `${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}`;
  const db = c.database === undefined ? '' : `/${encodeURIComponent(c.database)}`;
  return `${SCHEMES[c.engine]}://${auth}@${hostPort(c)}${db}`;
}

function hostPort(c: DeliveredCredential): string {
  return `${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`;
}

/**
 * Double-quoted with backslash escapes: read the same by systemd's
 * EnvironmentFile=, python-dotenv, dotenv (Node) and `set -a; . file` in sh.
 */
export function dotenvQuote(v: string): string {
  return `"${v.replace(/[\\"$`]/g, (ch) => `\\${ch}`).replace(/\n/g, '\\n')}"`;
}

function pgpassEscape(v: string): string {
  return v.replace(/[\\:]/g, (ch) => `\\${ch}`);
}
