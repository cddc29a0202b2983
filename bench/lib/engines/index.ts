/** The engines the workload runs on, and every engine/strategy pair the zero-downtime bench measures. */
import type { EngineKind, ResolvedStrategy } from '../../../src/shared/types';
import { mongodbWorkload } from './mongodb';
import { mysqlWorkload } from './mysql';
import { postgresWorkload } from './postgres';
import { redisWorkload } from './redis';
import type { CredentialDefinition, RotationPolicy } from '../../../src/store/types';
import type { EngineFixture, WorkloadEngine } from './types';

export const workloadEngines: Record<EngineKind, WorkloadEngine> = {
  postgres: postgresWorkload,
  mysql: mysqlWorkload,
  redis: redisWorkload,
  mongodb: mongodbWorkload,
};

/** Resolves `--engine`/`--strategy` (default: the engine's first strategy); a clear error otherwise. */
export function workloadCase(
  engine: string,
  strategy?: string,
): { engine: WorkloadEngine; strategy: ResolvedStrategy } {
  const e = workloadEngines[engine as EngineKind];
  if (!e) throw new Error(`unknown engine "${engine}" (one of ${Object.keys(workloadEngines).join(', ')})`);
  const s = (strategy ?? e.strategies[0]) as ResolvedStrategy;
  if (!e.strategies.includes(s))
    throw new Error(
      `engine ${engine} runs the workload with ${e.strategies.join(' or ')}, not "${strategy}"`,
    );
  return { engine: e, strategy: s };
}

/** Every engine and strategy: "postgres/dual-user", "mysql/dual-password", ... */
export const ALL_CASES = Object.values(workloadEngines).flatMap((e) =>
  e.strategies.map((s) => `${e.name}/${s}`),
);

export type { WorkloadEngine } from './types';

/** What registering needs of a rig (the bench's and the tests' both have it). */
interface CredentialRig {
  addCredential(
    def: Omit<Partial<CredentialDefinition>, 'policy'> &
      Pick<CredentialDefinition, 'id' | 'engine'> & { policy?: Partial<RotationPolicy> },
    current: { username: string; password: string },
  ): Promise<void>;
}

/**
 * Registers a fixture's admin and application login in a rig's store as
 * `ids.adminId` / `ids.credentialId`; `app` adds definition fields (strategy,
 * verify checks, policy, targets).
 */
export async function registerFixture(
  rig: CredentialRig,
  fixture: EngineFixture,
  ids: { adminId: string; credentialId: string },
  app: Omit<Partial<CredentialDefinition>, 'policy' | 'id' | 'engine'> & { policy?: Partial<RotationPolicy> },
): Promise<void> {
  const where = { engine: fixture.engine, ...fixture.where };
  const { database: adminDatabase, ...adminSecret } = fixture.admin;
  await rig.addCredential(
    { id: ids.adminId, ...where, database: adminDatabase ?? where.database },
    adminSecret,
  );
  await rig.addCredential(
    { id: ids.credentialId, ...where, adminCredentialId: ids.adminId, ...app },
    { username: fixture.login, password: fixture.password },
  );
}
