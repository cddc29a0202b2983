// Consumer library: what an application links to follow credential rotations.
export type {
  ConsumerCredential,
  CredentialListener,
  CredentialSource,
  ConsumerLogger,
  ConsumerEngine,
} from './types';
export { SourceBase, StaticSource, validateCredential, type SourceBaseOptions } from './source-base';
export { StoreSource, DEFAULT_STORE_TTL_MS, type StoreSourceOptions } from './store-source';
export { FileSource, type FileSourceOptions } from './file-source';
export { AwsSecretsManagerSource, type AwsSecretsManagerSourceOptions } from './aws-source';
export { GatewayHeartbeatReporter, type GatewayHeartbeatOptions } from './gateway-heartbeat';
export { isAuthError, errorCode } from './auth-errors';
export { Rotating, type RotatingDriver, type RotatingOptions, type Lease, type SwapEvent } from './rotating';
export { RotatingPgPool, type RotatingPgPoolOptions } from './pg-pool';
export { RotatingMysqlPool, type RotatingMysqlPoolOptions } from './mysql-pool';
export { RotatingMongoClient, type RotatingMongoClientOptions } from './mongo-client';
export { RotatingRedis, type RotatingRedisOptions } from './redis-client';
export {
  HeartbeatReporter,
  DEFAULT_HEARTBEAT_PERIOD_MS,
  estimateHeartbeatHistory,
  type HeartbeatReporterOptions,
  type HeartbeatStats,
  type VersionedClient,
} from './heartbeat';
export { ConsumerMetrics, type ConnectionCounts } from './metrics';
export { connectTemporal, temporalSettingsFromEnv } from '../temporal-connection';
export type { TemporalSettings, TemporalTlsSettings } from '../temporal-connection';
