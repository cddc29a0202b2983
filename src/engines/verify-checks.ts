/**
 * Operator verification checks (`verifyChecks` of a definition) run as the
 * NEW login right after it was created, before promote. They are meant to
 * read ("can the app still SELECT from orders?"), never to change anything:
 * a check that commits, runs DDL or writes would run with the application's
 * privileges under the rotator's name. So every check is:
 *
 * - one statement/command: PostgreSQL uses the extended protocol (which
 *   refuses a second statement), mysql2 runs without multipleStatements,
 *   Redis and MongoDB take one command;
 * - of a reading kind, by its leading keyword/command (an allowlist, so
 *   transaction control — COMMIT, ROLLBACK, SET TRANSACTION … — and DDL are
 *   refused before anything is sent; MySQL would commit implicitly before
 *   DDL, and PostgreSQL accepts `SET transaction_read_only = off` as the
 *   first statement of a read-only transaction);
 * - run in its own read-only transaction, rolled back (SQL engines).
 *
 * Checked when a definition is stored (schema.ts) and again by the engines
 * before running a check.
 */
import { ConfigError } from '../errors';
import type { EngineKind } from '../shared/types';

const SQL_READING = /^(select|with|show|explain|values|table|describe|desc)\b/i;
/** MySQL `SELECT … INTO OUTFILE/DUMPFILE` writes a file on the server. */
const MYSQL_FILE_WRITE = /\binto\s+(outfile|dumpfile)\b/i;

/** Redis commands a check may run (reads only). */
const REDIS_READING = new Set([
  'PING',
  'ECHO',
  'GET',
  'MGET',
  'EXISTS',
  'TYPE',
  'TTL',
  'PTTL',
  'STRLEN',
  'GETRANGE',
  'HGET',
  'HMGET',
  'HGETALL',
  'HEXISTS',
  'HLEN',
  'HKEYS',
  'HVALS',
  'LLEN',
  'LRANGE',
  'LINDEX',
  'SCARD',
  'SISMEMBER',
  'SMEMBERS',
  'ZCARD',
  'ZSCORE',
  'ZRANGE',
  'ZCOUNT',
  'ZRANK',
  'XLEN',
  'XRANGE',
  'DBSIZE',
  'SCAN',
  'HSCAN',
  'SSCAN',
  'ZSCAN',
  'BITCOUNT',
  'GETBIT',
  'PFCOUNT',
]);

/** MongoDB commands a check may run (reads only; aggregate without $out/$merge). */
const MONGO_READING = new Set([
  'ping',
  'find',
  'count',
  'countDocuments',
  'distinct',
  'aggregate',
  'listCollections',
  'listIndexes',
  'listDatabases',
  'dbStats',
  'collStats',
  'buildInfo',
  'connectionStatus',
  'hello',
  'isMaster',
  'ismaster',
]);

/** Why a check is refused, or undefined if it may run. Never quotes more than the check itself. */
export function verifyCheckProblem(engine: EngineKind, check: string): string | undefined {
  const text = check.trim();
  if (text === '') return 'is empty';
  switch (engine) {
    case 'postgres':
    case 'mysql': {
      if (!SQL_READING.test(text)) {
        return 'must be one reading statement (SELECT, WITH, SHOW, EXPLAIN, VALUES, TABLE); transaction control, SET and DDL are refused';
      }
      if (/;\s*\S/.test(text.replace(/;\s*$/, '')) && engine === 'mysql') {
        return 'must be a single statement';
      }
      if (engine === 'mysql' && MYSQL_FILE_WRITE.test(text))
        return 'must not write a file (INTO OUTFILE/DUMPFILE)';
      return undefined;
    }
    case 'redis': {
      const name = text
        .split(/\s+/)[0]!
        .replace(/^["']|["']$/g, '')
        .toUpperCase();
      if (!REDIS_READING.has(name))
        return `command ${name.slice(0, 32)} is not a read-only command a check may run`;
      return undefined;
    }
    case 'mongodb': {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        return undefined; // the engine reports the syntax (EJSON) itself
      }
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
      const name = Object.keys(doc).find((k) => k !== '$db');
      if (!name || !MONGO_READING.has(name))
        return `command ${String(name).slice(0, 32)} is not a read-only command a check may run`;
      if (/"\$(out|merge)"/.test(text)) return 'aggregate must not write ($out/$merge)';
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Throws ConfigError if check `i` (0-based) may not run. */
export function assertVerifyCheck(engine: EngineKind, check: string, i: number): void {
  const problem = verifyCheckProblem(engine, check);
  if (problem) throw new ConfigError(`verification check ${i + 1} ${problem}`);
}
