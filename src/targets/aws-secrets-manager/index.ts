import { createHash } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { ConfigError, TransientError } from '../../errors';
import type { AwsSecretsManagerTargetSpec } from '../schema';
import type { DeliveredCredential, DeliveryPlanLines, DeliveryStep, Target, VerifyStage } from '../target';

const CURRENT = 'AWSCURRENT';
const PENDING = 'AWSPENDING';
const PREVIOUS = 'AWSPREVIOUS';

/** AWS's JSON shape for database secrets (what its rotation templates, the JDBC wrapper and RDS read). */
export interface AwsDatabaseSecret {
  engine: string;
  host: string;
  port: number;
  username: string;
  password: string;
  dbname?: string;
  /** Ours: the rotator's version number, for consumers that report it. */
  rotatorVersion: number;
}

const AWS_ENGINE: Record<DeliveredCredential['engine'], string> = {
  postgres: 'postgres',
  mysql: 'mysql',
  mongodb: 'mongo',
  redis: 'redis',
};

export function awsSecretOf(c: DeliveredCredential): AwsDatabaseSecret {
  return {
    engine: AWS_ENGINE[c.engine],
    host: c.host,
    port: c.port,
    username: c.username,
    password: c.password,
    ...(c.database === undefined ? {} : { dbname: c.database }),
    rotatorVersion: c.version,
  };
}

/**
 * The AWS version id (ClientRequestToken) of one of our versions: derived
 * from credential, version number and creation time, so a retried put is
 * the same version (AWS treats it as a no-op) and a reused version number
 * (after a discarded pending) is a new one.
 */
export function versionToken(
  credentialId: string,
  c: Pick<DeliveredCredential, 'version' | 'createdAt'>,
): string {
  const h = createHash('sha256').update(`${credentialId}\0${c.version}\0${c.createdAt}`).digest('hex');
  return `rotator-v${c.version}-${h.slice(0, 32)}`.slice(0, 64);
}

/**
 * AWS Secrets Manager, with the staging labels moved the way AWS's own
 * rotation does: the new version is put as AWSPENDING, promote moves
 * AWSCURRENT to it (the old version becomes AWSPREVIOUS), rollback moves
 * AWSCURRENT back, revoke removes AWSPREVIOUS from the old version (its
 * login is gone). Caching clients, the JDBC wrapper, External Secrets and
 * the CSI provider read AWSCURRENT and keep working unchanged.
 *
 * Reads always name a stage (moto may answer a stage-less read with a stale
 * value after UpdateSecretVersionStage; being explicit is right anyway).
 * Region, endpoint and credentials come from the SDK's standard chain
 * unless the spec names region/endpoint.
 */
export class AwsSecretsManagerTarget implements Target {
  readonly description: string;
  private readonly sm: SecretsManagerClient;

  constructor(private readonly spec: AwsSecretsManagerTargetSpec) {
    this.description = `aws-secrets-manager ${spec.secretId}`;
    this.sm = new SecretsManagerClient({ region: spec.region, endpoint: spec.endpoint, maxAttempts: 3 });
  }

  async publishPending(step: DeliveryStep): Promise<void> {
    const to = required(step.to);
    await this.ensureSecret(step);
    await this.put(step.credentialId, to, [PENDING]);
  }

  async publishCurrent(step: DeliveryStep): Promise<void> {
    const to = required(step.to);
    let stages = await this.ensureSecret(step);
    const toId = versionToken(step.credentialId, to);
    if (!stages.has(toId)) {
      await this.put(step.credentialId, to, [PENDING]);
      stages = await this.stages();
    }
    await this.moveCurrentTo(toId, stages);
    await this.dropLabel(PENDING, toId);
  }

  async restore(step: DeliveryStep): Promise<void> {
    const stages = await this.ensureSecret(step);
    const fromId = versionToken(step.credentialId, step.from);
    if (!stages.has(fromId)) await this.put(step.credentialId, step.from, [CURRENT]);
    else await this.moveCurrentTo(fromId, await this.stages());
    // The withdrawn version keeps no label: nothing may read it as pending or previous.
    const after = await this.stages();
    for (const [id, labels] of after) {
      if (id === fromId) continue;
      for (const label of [PENDING, PREVIOUS]) {
        if (labels.includes(label) && this.isOurs(id, step.toVersion)) await this.dropLabel(label, id);
      }
    }
  }

  async removeOld(step: DeliveryStep): Promise<void> {
    const fromId = versionToken(step.credentialId, step.from);
    await this.dropLabel(PREVIOUS, fromId);
  }

  async verify(step: DeliveryStep, stage: VerifyStage): Promise<void> {
    const expect = stage === 'restored' ? step.from : required(step.to);
    const label = stage === 'pending' ? PENDING : CURRENT;
    const got = await this.sm.send(
      new GetSecretValueCommand({ SecretId: this.spec.secretId, VersionStage: label }),
    );
    const want = awsSecretOf(expect);
    let parsed: Partial<AwsDatabaseSecret> = {};
    try {
      parsed = JSON.parse(got.SecretString ?? '{}') as Partial<AwsDatabaseSecret>;
    } catch {
      // compared below; never echoed
    }
    const same =
      got.VersionId === versionToken(step.credentialId, expect) &&
      parsed.username === want.username &&
      parsed.password === want.password &&
      parsed.host === want.host &&
      parsed.port === want.port &&
      parsed.dbname === want.dbname;
    if (!same) throw new TransientError(`${this.description}: ${label} is not version ${expect.version}`);
    if (stage === 'old-removed') {
      const labels = (await this.stages()).get(versionToken(step.credentialId, step.from)) ?? [];
      if (labels.length > 0)
        throw new TransientError(`${this.description}: the old version still has ${labels.join(', ')}`);
    }
  }

  describeActions(): DeliveryPlanLines {
    return {
      pending: `${this.description}: PutSecretValue (new version) with ${PENDING}`,
      current: `${this.description}: move ${CURRENT} to the new version (old one becomes ${PREVIOUS}), drop ${PENDING}`,
      restore: `${this.description}: move ${CURRENT} back to the old version, drop the new version's labels`,
      removeOld: `${this.description}: remove ${PREVIOUS} from the old version`,
    };
  }

  async close(): Promise<void> {
    this.sm.destroy();
  }

  /** Our versions' tokens start with rotator-v<N>-: only those are relabelled on restore. */
  private isOurs(id: string, version: number): boolean {
    return id.startsWith(`rotator-v${version}-`);
  }

  /** The secret's labels per version id; creates the secret with the old version as AWSCURRENT when missing. */
  private async ensureSecret(step: DeliveryStep): Promise<Map<string, string[]>> {
    try {
      return await this.stages();
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
      if (!this.spec.createIfMissing)
        throw new ConfigError(`${this.description}: secret does not exist (createIfMissing is false)`);
    }
    await this.sm.send(
      new CreateSecretCommand({
        Name: this.spec.secretId,
        ClientRequestToken: versionToken(step.credentialId, step.from),
        SecretString: JSON.stringify(awsSecretOf(step.from)),
        Description: `database credential ${step.credentialId}, delivered by db-rotator`,
      }),
    );
    return this.stages();
  }

  private async stages(): Promise<Map<string, string[]>> {
    const d = await this.sm.send(new DescribeSecretCommand({ SecretId: this.spec.secretId }));
    return new Map(Object.entries(d.VersionIdsToStages ?? {}));
  }

  private async put(credentialId: string, c: DeliveredCredential, stages: string[]): Promise<void> {
    await this.sm.send(
      new PutSecretValueCommand({
        SecretId: this.spec.secretId,
        ClientRequestToken: versionToken(credentialId, c),
        SecretString: JSON.stringify(awsSecretOf(c)),
        VersionStages: stages,
      }),
    );
  }

  /** AWSCURRENT to `id`; the version that had it gets AWSPREVIOUS (as AWS does, made explicit). */
  private async moveCurrentTo(id: string, stages: Map<string, string[]>): Promise<void> {
    const holder = [...stages].find(([, l]) => l.includes(CURRENT))?.[0];
    if (holder === id) return;
    await this.moveStage(CURRENT, id, holder);
    if (holder)
      await this.moveStage(
        PREVIOUS,
        holder,
        [...(await this.stages())].find(([, l]) => l.includes(PREVIOUS))?.[0],
      );
  }

  /** Removes `stage` from version `id` if it has it (AWS refuses to remove a label a version lacks). */
  private async dropLabel(stage: string, id: string): Promise<void> {
    if ((await this.stages()).get(id)?.includes(stage)) await this.moveStage(stage, undefined, id);
  }

  private async moveStage(stage: string, to: string | undefined, from: string | undefined): Promise<void> {
    if (to === from) return;
    if (to === undefined && from === undefined) return;
    await this.sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: this.spec.secretId,
        VersionStage: stage,
        MoveToVersionId: to,
        RemoveFromVersionId: from,
      }),
    );
  }
}

function required(to: DeliveredCredential | undefined): DeliveredCredential {
  if (!to) throw new ConfigError('the new version is not readable any more (discarded)');
  return to;
}
