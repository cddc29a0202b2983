/**
 * Trust boundary: an admin credential is sent only to the server it belongs
 * to. A dependent definition names its admin by id (adminCredentialId), and
 * its own engine/host/port decide where the worker connects; without this
 * check, anyone who can write a definition could point a production admin
 * at a host of their choosing and receive its password (AUTH in plaintext on
 * Redis, a cleartext password on a downgraded PostgreSQL connection...).
 *
 * Rule: the dependent's engine must be the admin's engine, and its host:port
 * the admin's own host:port or one listed in the admin's `allowedServers`
 * (set by a key holder; definitions are signed, see store/integrity.ts).
 * Hosts compare case-insensitively without a trailing dot; no DNS lookup
 * (a name and an address of one server are different entries on purpose).
 * Checked before any connection is opened, in preflight, in every activity
 * and in the dry run (where it is a blocker).
 */
import { ConfigError } from '../errors';
import type { CredentialDefinition } from '../store/types';

export class AdminScopeError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'AdminScopeError';
  }
}

function normHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

function where(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Servers (host:port) the admin may be used against: its own, then its allowlist. */
export function adminServers(admin: CredentialDefinition): Array<{ host: string; port: number }> {
  return [{ host: admin.host, port: admin.port }, ...(admin.allowedServers ?? [])];
}

/** Throws AdminScopeError unless `admin` may be used to manage `def`. */
export function assertAdminScope(def: CredentialDefinition, admin: CredentialDefinition): void {
  const target = `${def.engine} ${where(def.host, def.port)}`;
  const allowed = adminServers(admin);
  const ok =
    admin.engine === def.engine &&
    allowed.some((s) => s.port === def.port && normHost(s.host) === normHost(def.host));
  if (ok) return;
  throw new AdminScopeError(
    `credential "${def.id}" targets ${target}, but its admin credential "${admin.id}" belongs to ` +
      `${admin.engine} ${allowed.map((s) => where(s.host, s.port)).join(', ')}; refusing to send the admin password there. ` +
      `If it is the same server, a key holder adds it to "allowedServers" of "${admin.id}" (db-rotator credentials add)`,
  );
}
