/**
 * Passwords on MySQL/MariaDB: hashes computed here, the statements that set
 * them, and the plans that make dual-password changes converge on retries.
 *
 * MariaDB (10.4+): every statement carries a mysql_native_password hash
 * ('*' + HEX(SHA1(SHA1(pw)))), never the password:
 *   IDENTIFIED BY PASSWORD '*H'                            (one password)
 *   IDENTIFIED VIA mysql_native_password USING '*H1'
 *              OR mysql_native_password USING '*H2'        (two passwords)
 * USING '<hash>' is accepted as is (checked on 10.11); PASSWORD('plain') is
 * never needed.
 *
 * MySQL 8: RETAIN CURRENT PASSWORD only exists for `IDENTIFIED [WITH plugin]
 * BY 'plaintext'` (the `AS 'hash'` form takes no RETAIN clause, and
 * caching_sha2_password hashes are salted server-side), so dual-password and
 * caching_sha2 accounts get the plaintext inside the statement. It is sent
 * only over the admin connection, is never logged, and errors of such
 * statements are reported by code only (see ./connection.ts).
 * mysql_native_password accounts outside RETAIN get `AS '*H'`.
 */
import { createHash } from 'node:crypto';
import { escape } from 'mysql2/promise';
import { quoteAccount, type Account } from './accounts';

export const NATIVE_PLUGIN = 'mysql_native_password';
export const CACHING_SHA2_PLUGIN = 'caching_sha2_password';
export const SHA256_PLUGIN = 'sha256_password';
/** Plugins whose credential is a password stored by the server (MySQL). */
export const MYSQL_PASSWORD_PLUGINS = [NATIVE_PLUGIN, CACHING_SHA2_PLUGIN, SHA256_PLUGIN] as const;

/** mysql_native_password hash, as PASSWORD('pw') prints it: '*' + upper hex of SHA1(SHA1(utf8(pw))). */
export function nativePasswordHash(password: string): string {
  const stage1 = createHash('sha1').update(Buffer.from(password, 'utf8')).digest();
  return `*${createHash('sha1').update(stage1).digest('hex').toUpperCase()}`;
}

// ---------------------------------------------------------------- caching_sha2_password

const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHA2_SALT_BYTES = 20;

function b64From24Bit(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += CRYPT_ALPHABET[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

/** SHA-256 crypt (Drepper) as MySQL's caching_sha2_password stores it: 43 characters. */
export function sha256Crypt(password: Buffer, salt: Buffer, rounds: number): string {
  const sha = (...parts: Buffer[]) => {
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const plen = password.length;
  const b = sha(password, salt, password);
  const a = createHash('sha256').update(password).update(salt);
  let n = plen;
  for (; n > 32; n -= 32) a.update(b);
  a.update(b.subarray(0, n));
  for (let len = plen; len > 0; len >>= 1) a.update(len & 1 ? b : password);
  let c = a.digest();

  const dp = sha(...Array<Buffer>(plen).fill(password));
  const p = Buffer.alloc(plen);
  for (let i = 0; i < plen; i++) p[i] = dp[i % 32]!;
  const ds = sha(...Array<Buffer>(16 + c[0]!).fill(salt));
  const s = Buffer.alloc(salt.length);
  for (let i = 0; i < salt.length; i++) s[i] = ds[i % 32]!;

  for (let r = 0; r < rounds; r++) {
    const h = createHash('sha256');
    h.update(r & 1 ? p : c);
    if (r % 3) h.update(s);
    if (r % 7) h.update(p);
    h.update(r & 1 ? c : p);
    c = h.digest();
  }
  const order = [
    [0, 10, 20],
    [21, 1, 11],
    [12, 22, 2],
    [3, 13, 23],
    [24, 4, 14],
    [15, 25, 5],
    [6, 16, 26],
    [27, 7, 17],
    [18, 28, 8],
    [9, 19, 29],
  ] as const;
  let out = order.map(([x, y, z]) => b64From24Bit(c[x]!, c[y]!, c[z]!, 4)).join('');
  out += b64From24Bit(0, c[31]!, c[30]!, 3);
  return out;
}

/**
 * Whether a stored caching_sha2_password string (`$A$<rounds/1000 hex>$<20-byte salt><43>`)
 * is the hash of `password`; undefined if the format is not one we know.
 */
export function cachingSha2Matches(stored: Buffer, password: string): boolean | undefined {
  if (stored.length === 0) return password.length === 0;
  const text = stored.toString('latin1');
  const m = /^\$A\$([0-9A-Fa-f]{3})\$/.exec(text);
  if (!m || stored.length !== 7 + SHA2_SALT_BYTES + 43) return undefined;
  const rounds = parseInt(m[1]!, 16) * 1000;
  const salt = stored.subarray(7, 7 + SHA2_SALT_BYTES);
  const digest = stored.subarray(7 + SHA2_SALT_BYTES).toString('latin1');
  return sha256Crypt(Buffer.from(password, 'utf8'), salt, rounds) === digest;
}

/** Whether a stored credential of `plugin` is `password`; undefined when we cannot tell. */
export function storedPasswordMatches(
  plugin: string,
  stored: Buffer | undefined,
  password: string,
): boolean | undefined {
  if (stored === undefined) return undefined;
  if (plugin === NATIVE_PLUGIN) {
    return stored.toString('latin1').toUpperCase() === (password === '' ? '' : nativePasswordHash(password));
  }
  if (plugin === CACHING_SHA2_PLUGIN) return cachingSha2Matches(stored, password);
  return undefined;
}

// ---------------------------------------------------------------- MariaDB statements

/** MariaDB: the account accepts exactly these native hashes (first tried first). */
export function mariadbIdentifiedClause(hashes: readonly string[]): string {
  if (hashes.length === 0) throw new Error('at least one password hash is required');
  if (hashes.length === 1) return `IDENTIFIED BY PASSWORD ${escape(hashes[0]!)}`;
  return `IDENTIFIED VIA ${hashes.map((h) => `${NATIVE_PLUGIN} USING ${escape(h)}`).join(' OR ')}`;
}

export function mariadbSetHashesStatement(account: Account, hashes: readonly string[]): string {
  return `ALTER USER ${quoteAccount(account)} ${mariadbIdentifiedClause(hashes)}`;
}

// ---------------------------------------------------------------- MySQL statements

function checkPlugin(plugin: string): string {
  if (!(MYSQL_PASSWORD_PLUGINS as readonly string[]).includes(plugin)) {
    throw new Error(`authentication plugin ${plugin} does not store a password`);
  }
  return plugin;
}

/** MySQL: the credential part of CREATE/ALTER USER for `plugin` (hash for native, plaintext otherwise). */
export function mysqlIdentifiedClause(plugin: string, password: string): string {
  checkPlugin(plugin);
  if (plugin === NATIVE_PLUGIN)
    return `IDENTIFIED WITH ${NATIVE_PLUGIN} AS ${escape(nativePasswordHash(password))}`;
  return `IDENTIFIED WITH ${plugin} BY ${escape(password)}`;
}

/** MySQL 8.0.14+: `password` becomes primary, the current primary becomes the secondary. */
export function mysqlRetainStatement(account: Account, plugin: string, password: string): string {
  return `ALTER USER ${quoteAccount(account)} IDENTIFIED WITH ${checkPlugin(plugin)} BY ${escape(password)} RETAIN CURRENT PASSWORD`;
}

/** MySQL 8.0.14+: forget the secondary password. */
export function mysqlDiscardStatement(account: Account): string {
  return `ALTER USER ${quoteAccount(account)} DISCARD OLD PASSWORD`;
}

/** MySQL: replace the primary password; a secondary password, if any, stays. */
export function mysqlSetStatement(account: Account, plugin: string, password: string): string {
  return `ALTER USER ${quoteAccount(account)} ${mysqlIdentifiedClause(plugin, password)}`;
}

// ---------------------------------------------------------------- MySQL dual-password plans

/** What the stored primary/secondary password is, as far as we can tell. */
export type PasswordMatch = 'new' | 'current' | 'other' | 'none' | 'unknown';
export type MysqlPasswordStep = 'set-current' | 'retain-new' | 'set-keep' | 'discard';

/**
 * Steps that leave primary = new and secondary = current from any state.
 * "set-current" (no RETAIN) keeps whatever secondary exists; the following
 * "retain-new" moves current to the secondary slot. When we cannot read the
 * state ('unknown', e.g. an unfamiliar hash format) we take the full path,
 * which is correct from every state.
 */
export function planMysqlAddPassword(primary: PasswordMatch, secondary: PasswordMatch): MysqlPasswordStep[] {
  if (primary === 'new' && secondary === 'current') return [];
  if (primary === 'current') return ['retain-new'];
  return ['set-current', 'retain-new'];
}

/** Steps that leave exactly `keep` (primary, no secondary). */
export function planMysqlKeepOnly(primary: PasswordMatch, secondary: PasswordMatch): MysqlPasswordStep[] {
  const steps: MysqlPasswordStep[] = [];
  if (primary !== 'current') steps.push('set-keep');
  if (secondary !== 'none') steps.push('discard');
  return steps;
}

/** Which of the passwords a stored credential is. */
export function classifyStored(
  plugin: string,
  stored: Buffer | undefined,
  candidates: { new?: string; current: string },
): PasswordMatch {
  if (stored === undefined) return 'none';
  const isCurrent = storedPasswordMatches(plugin, stored, candidates.current);
  if (isCurrent === true) return 'current';
  if (candidates.new !== undefined) {
    const isNew = storedPasswordMatches(plugin, stored, candidates.new);
    if (isNew === true) return 'new';
    if (isNew === undefined) return 'unknown';
  }
  return isCurrent === undefined ? 'unknown' : 'other';
}
