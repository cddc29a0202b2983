/**
 * What the live MySQL/MariaDB server is and supports: version, variant,
 * user-name length, strategies, and which accounts' credentials we manage.
 */
import { UnsupportedServerError, UnsupportedStrategyError } from '../../errors';
import type { ServerInfo } from '../types';
import { DEFAULT_MAX_USER_CHARS, describeAccount, type Account } from './accounts';
import { MYSQL_PASSWORD_PLUGINS, NATIVE_PLUGIN } from './auth';
import type { MysqlConnector } from './connection';
import { describePlugins, type UserDefinition, type Variant } from './user';

export interface ServerVersion {
  /** VERSION() as the server prints it. */
  text: string;
  variant: Variant;
  /** major * 10000 + minor * 100 + patch */
  num: number;
  /** Longest user name the server stores (mysql.user.User). */
  maxUserChars: number;
}

/** MySQL 5.7.8: ALTER USER ... IDENTIFIED, DROP USER IF EXISTS; MariaDB 10.2: ALTER USER, SHOW CREATE USER. */
export const MIN_VERSION = { mysql: 50708, mariadb: 100200 } as const;
export const DUAL_PASSWORD_VERSION = { mysql: 80014, mariadb: 100400 } as const;
/** ACCOUNT LOCK: MySQL 5.7.6, MariaDB 10.4.2. */
export const ACCOUNT_LOCK_VERSION = { mysql: 50706, mariadb: 100402 } as const;

/** Parses VERSION(). */
export function parseServerVersion(text: string): { variant: Variant; num: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) throw new UnsupportedServerError(`cannot read the server version "${text.slice(0, 60)}"`);
  return {
    variant: /mariadb/i.test(text) ? 'mariadb' : 'mysql',
    num: Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]),
  };
}

function dotted(num: number): string {
  return `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}`;
}

/** Strategies a server version supports, with reasons. */
export function strategiesFor(variant: Variant, num: number): ServerInfo['strategies'] {
  const name = variant === 'mariadb' ? 'MariaDB' : 'MySQL';
  const text = dotted(num);
  const dual = num >= DUAL_PASSWORD_VERSION[variant];
  return {
    'dual-password': dual
      ? {
          supported: true,
          reason:
            variant === 'mariadb'
              ? `MariaDB ${text} accepts two mysql_native_password hashes at once (IDENTIFIED VIA ... OR ...)`
              : `MySQL ${text} keeps a secondary password (RETAIN CURRENT PASSWORD / DISCARD OLD PASSWORD)`,
        }
      : {
          supported: false,
          reason:
            variant === 'mariadb'
              ? `MariaDB ${text} has no authentication chains (needs 10.4 or newer)`
              : `MySQL ${text} has no secondary passwords (needs 8.0.14 or newer)`,
        },
    'dual-user': {
      supported: true,
      reason: `${name} ${text}: a second account with the template's grants, roles and attributes; the old one is dropped after grace`,
    },
    single: {
      supported: true,
      reason: `${name} ${text}: ALTER USER ... IDENTIFIED in place (old clients fail until they refresh)`,
    },
  };
}

/** Reads version, variant and the user-name limit; throws UnsupportedServerError for servers we do not handle. */
export async function readServerVersion(db: MysqlConnector): Promise<ServerVersion> {
  const [row] = await db.query(
    `SELECT VERSION() AS version,
            (SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'user' AND COLUMN_NAME = 'User') AS max_user`,
    [],
    'reading server version',
  );
  const text = String(row?.version ?? '');
  if (/tidb/i.test(text)) {
    throw new UnsupportedServerError(`${text.slice(0, 60)} is not MySQL/MariaDB; not supported`);
  }
  const { variant, num } = parseServerVersion(text);
  if (num < MIN_VERSION[variant]) {
    const name = variant === 'mariadb' ? 'MariaDB' : 'MySQL';
    throw new UnsupportedServerError(
      `${name} ${text} is not supported (need ${name} ${dotted(MIN_VERSION[variant])} or newer)`,
    );
  }
  const max = Number(row?.max_user);
  return { text, variant, num, maxUserChars: max > 0 ? max : DEFAULT_MAX_USER_CHARS[variant] };
}

/**
 * The password plugin an account uses, if we manage it: MariaDB only
 * mysql_native_password (every rule of the chain), MySQL one of the plugins
 * that store a password. Anything else (unix_socket, ed25519, gssapi, pam,
 * auth_socket, LDAP...) is refused rather than replaced.
 */
export function passwordPlugin(
  def: UserDefinition,
  account: Account,
  variant: Variant,
  action: string,
): string {
  const plugins = def.auth.map((r) => r.plugin);
  if (variant === 'mariadb') {
    if (plugins.every((p) => p === NATIVE_PLUGIN)) return NATIVE_PLUGIN;
  } else {
    const plugin = plugins[0] ?? NATIVE_PLUGIN;
    if (plugins.length <= 1 && (MYSQL_PASSWORD_PLUGINS as readonly string[]).includes(plugin)) return plugin;
  }
  const supported = variant === 'mariadb' ? NATIVE_PLUGIN : MYSQL_PASSWORD_PLUGINS.join(', ');
  throw new UnsupportedStrategyError(
    `${describeAccount(account)} authenticates with ${describePlugins(def)}; ${action} only manages ${supported} accounts (refusing to replace the plugin)`,
  );
}
