/** verifyLogin of the MongoDB engine: log in as the application would, ping, the checks. */
import { BSON, MongoClient, MongoNetworkError, MongoServerSelectionError, type Document } from 'mongodb';
import { ConfigError, TransientError, VerificationError } from '../../errors';
import type { Secret, VerifyOptions } from '../types';
import { lostConnection } from '../transient';
import { assertVerifyCheck } from '../verify-checks';
import { checkMongoDb, checkMongoUser } from './users';
import {
  CODE_AUTH_FAILED,
  codeOf,
  mapMongoError,
  VERIFY_TIMEOUT_MS,
  type MongoConnector,
} from './connection';

export async function verifyMongoLogin(
  db: MongoConnector,
  secret: Secret,
  options: VerifyOptions = {},
): Promise<void> {
  const user = secret.username;
  checkMongoUser(user);
  db.checkAuthDb();
  const checks = (options.checks ?? []).map((check, i) => ({
    check,
    i,
    ...parseCheck(check, i, db.authDb),
  }));
  const client = new MongoClient(
    db.uri,
    db.clientOptions(user, secret.password, db.authDb, db.conn.connectTimeoutMs ?? VERIFY_TIMEOUT_MS),
  );
  try {
    try {
      await client.connect();
      await client.db(db.authDb).command({ ping: 1 });
    } catch (err) {
      if (codeOf(err) === CODE_AUTH_FAILED) {
        throw new VerificationError(`login failed for ${user}@${db.authDb}: authentication failed`);
      }
      if (err instanceof MongoServerSelectionError || err instanceof MongoNetworkError) {
        throw new TransientError(`cannot reach MongoDB at ${db.conn.host}:${db.conn.port}: ${err.message}`);
      }
      throw new VerificationError(`login failed for ${user}@${db.authDb}: ${(err as Error).message}`);
    }
    for (const { check, i, db, command } of checks) {
      try {
        await client.db(db).command(command);
      } catch (err) {
        const lost = lostConnection(mapMongoError(err, `check ${i + 1} as ${user}`, ''));
        if (lost) throw lost;
        const e = err as { message?: string; codeName?: string };
        throw new VerificationError(
          `check ${i + 1} (${check}) failed for ${user}: ${e.message ?? String(err)}${e.codeName ? ` (${e.codeName})` : ''}`,
        );
      }
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * A verification check: an Extended JSON command document run against the
 * auth database, e.g. {"find": "orders", "limit": 1}; a "$db" field runs it
 * against another database.
 */
export function parseCheck(check: string, i: number, defaultDb: string): { db: string; command: Document } {
  let doc: unknown;
  try {
    doc = BSON.EJSON.parse(check, { relaxed: true });
  } catch {
    throw new ConfigError(`check ${i + 1} is not a JSON command document: ${check}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || Object.keys(doc).length === 0) {
    throw new ConfigError(`check ${i + 1} is not a JSON command document: ${check}`);
  }
  const command = { ...(doc as Document) };
  assertVerifyCheck('mongodb', JSON.stringify(command), i);
  let db = defaultDb;
  if ('$db' in command) {
    if (typeof command.$db !== 'string') throw new ConfigError(`check ${i + 1}: "$db" must be a string`);
    db = command.$db;
    delete command.$db;
    checkMongoDb(db, `check ${i + 1} database`);
  }
  return { db, command };
}
