import type { EngineKind } from '../shared/types';
import { ConfigError } from '../errors';
import type { Engine, EngineConnection } from './types';
import * as mongodb from './mongodb';
import * as mysql from './mysql';
import * as postgres from './postgres';
import * as redis from './redis';
import { withHostVariants } from './mysql/host-variants';

export type {
  DryRunRecorder,
  Engine,
  EngineConnection,
  EngineFactory,
  PasswordChange,
  Secret,
  ServerInfo,
  SessionInfo,
  PrivilegeDiff,
} from './types';
export { generatePassword } from './password';

/** What the rest of the program needs of an engine's folder: the adapter and how its secrets look in text. */
interface EngineModule {
  create(conn: EngineConnection): Engine;
  /** The forms in which a password can appear in the engine's recorded statements (for redaction). */
  secretForms(password: string): string[];
}

const modules: Partial<Record<EngineKind, EngineModule>> = {
  postgres: { create: postgres.createPostgresEngine, secretForms: postgres.secretForms },
  mysql: {
    create: (conn) => withHostVariants(conn, mysql.createMysqlEngine),
    secretForms: mysql.secretForms,
  },
  redis: { create: redis.createRedisEngine, secretForms: redis.secretForms },
  mongodb: { create: mongodb.createMongoEngine, secretForms: mongodb.secretForms },
};

function moduleOf(kind: EngineKind): EngineModule {
  const module = modules[kind];
  if (!module) throw new ConfigError(`engine "${kind}" is not supported by this build`);
  return module;
}

/** The one place that maps an engine kind to its adapter. */
export function createEngine(kind: EngineKind, connection: EngineConnection): Engine {
  return moduleOf(kind).create(connection);
}

/** Closes the connections engines share between activities (postgres admin pools); on worker shutdown. */
export async function closeSharedConnections(): Promise<void> {
  await postgres.closeAdminPools();
}

/** Every form in which `password` can appear in statements `kind` records (itself, hashes). */
export function secretFormsOf(kind: EngineKind, password: string): string[] {
  return moduleOf(kind).secretForms(password);
}
