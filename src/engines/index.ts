import type { EngineKind } from '../shared/types';
import { ConfigError } from '../errors';
import type { Engine, EngineConnection } from './types';
import { createMongoEngine } from './mongodb';
import { createMysqlEngine } from './mysql';
import { withHostVariants } from './mysql/host-variants';
import { createPostgresEngine } from './postgres';
import { createRedisEngine } from './redis';

export type {
  DryRunRecorder,
  Engine,
  EngineConnection,
  EngineFactory,
  Secret,
  ServerInfo,
  SessionInfo,
  PrivilegeDiff,
} from './types';
export { generatePassword } from './password';

const factories: Partial<Record<EngineKind, (conn: EngineConnection) => Engine>> = {
  postgres: createPostgresEngine,
  mysql: (conn) => withHostVariants(conn, createMysqlEngine),
  redis: createRedisEngine,
  mongodb: createMongoEngine,
};

/** The one place that maps an engine kind to its adapter. */
export function createEngine(kind: EngineKind, connection: EngineConnection): Engine {
  const factory = factories[kind];
  if (!factory) throw new ConfigError(`engine "${kind}" is not supported by this build`);
  return factory(connection);
}
