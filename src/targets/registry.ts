import type { TargetSpec } from './schema';
import type { Target } from './target';
import { FileTarget } from './file';
import { PgbouncerTarget } from './pgbouncer';
import { AwsSecretsManagerTarget } from './aws-secrets-manager';
import { WebhookTarget } from './webhook';

/** What targets may need besides their spec: admin logins from the store, the worker's environment. */
export interface TargetDeps {
  /** Reads a store credential's secret (the PgBouncer console login, the admin that reads verifiers). */
  readCredential(id: string): Promise<{ username: string; password: string }>;
  /** The credential the target delivers (definition values, no secret). */
  credential: { id: string; adminCredentialId?: string; database?: string; host: string; port: number };
  env: NodeJS.ProcessEnv;
}

/** One adapter per target kind, like the engines' registry. */
export async function createTarget(spec: TargetSpec, deps: TargetDeps): Promise<Target> {
  switch (spec.type) {
    case 'file':
      return FileTarget.create(spec);
    case 'pgbouncer':
      return new PgbouncerTarget(spec, deps);
    case 'aws-secrets-manager':
      return new AwsSecretsManagerTarget(spec);
    case 'webhook':
      return new WebhookTarget(spec, deps.env);
  }
}
