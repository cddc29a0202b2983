import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { encryptedDataConverter } from '../../src/codec';
import { productionActivities } from '../../src/runtime';
import { openStore, SecretCipher, type ManagedCredentialStore } from '../../src/store';
import { generateKeyBase64, parseKeyring } from '../../src/store/crypto';
import { rotationWorkflowId } from '../../src/shared/constants';
import type { EngineKind, RotationInput, RotationResult } from '../../src/shared/types';
import type { CredentialDefinition, RotationPolicy } from '../../src/store/types';
import { parseCredentialDefinition } from '../../src/store/schema';
import {
  capturedLogs,
  createTestWorker,
  encryptedClient,
  uniqueTaskQueue,
  WORKFLOW_BUNDLE_PATH,
} from './temporal';
import { recordCodecKey, recordLogs, recordSecrets } from './leak-ledger';
import { services, uniqueSuffix } from './services';

/**
 * A real rotation setup for integration tests: a file store in a temp dir,
 * a worker with the production activities on the given Temporal environment,
 * and a client that encrypts payloads like production.
 */
/** A definition to add: its id and engine, anything else defaults (`policy` may be partial). */
export type CredentialToAdd = Omit<Partial<CredentialDefinition>, 'policy'> & {
  id: string;
  engine: EngineKind;
  policy?: Partial<RotationPolicy>;
};

/**
 * Stores the definition and its current secret as `actor`. No discovery wait
 * unless the caller's policy sets one: most rigs have no consumers.
 */
export async function importCredential(
  store: ManagedCredentialStore,
  partial: CredentialToAdd,
  current: { username: string; password: string },
  actor: string,
): Promise<CredentialDefinition> {
  const def = parseCredentialDefinition({
    baseUsername: current.username,
    ...partial,
    policy: { consumerDiscoveryMs: 0, ...partial.policy },
  });
  await store.putDefinition(def, actor);
  await store.importCurrent(def.id, current, actor);
  return def;
}

/** Starts (or starts again) the rotation workflow of `input.credentialId`. */
export function startRotation(
  client: Client,
  taskQueue: string,
  input: RotationInput,
): ReturnType<Client['workflow']['start']> {
  return client.workflow.start('rotateCredential', {
    args: [input],
    taskQueue,
    workflowId: rotationWorkflowId(input.credentialId),
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
}

export interface RotationRig {
  /** Environment that points the CLI/config at this rig's store, keys and task queue. */
  env: Record<string, string>;
  store: ManagedCredentialStore;
  client: Client;
  worker: Worker;
  taskQueue: string;
  /** Every password the store handed out or was given, for leak scans. */
  knownSecrets(): Promise<string[]>;
  addCredential(def: CredentialToAdd, current: { username: string; password: string }): Promise<void>;
  start(input: RotationInput): Promise<WorkflowHandle>;
  rotate(input: RotationInput): Promise<RotationResult>;
  close(): Promise<void>;
}

export async function createRotationRig(env: TestWorkflowEnvironment): Promise<RotationRig> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-store-'));
  const storePath = join(dir, 'store.json');
  const storeKeys = `k1:${generateKeyBase64()}`;
  const codecKeys = `c1:${generateKeyBase64()}`;
  const store = await openStore(
    { backend: 'file', path: storePath },
    new SecretCipher(parseKeyring(storeKeys)),
  );
  const keyring = parseKeyring(codecKeys);
  const taskQueue = uniqueTaskQueue('it');
  recordCodecKey(codecKeys);
  const generated: string[] = [];
  const worker = await createTestWorker(env, {
    taskQueue,
    activities: productionActivities(
      recordingGeneratedPasswords(store, (p) => generated.push(p)),
      'test-worker',
    ),
    keyring,
  });
  const running = worker.run();
  const client = encryptedClient(env, keyring);
  const ids: string[] = [];

  const rig: RotationRig = {
    env: {
      ROTATOR_STORE_BACKEND: 'file',
      ROTATOR_STORE_PATH: storePath,
      ROTATOR_STORE_KEYS: storeKeys,
      ROTATOR_CODEC_KEYS: codecKeys,
      ROTATOR_TASK_QUEUE: taskQueue,
      TEMPORAL_ADDRESS: services.temporalAddress,
    },
    store,
    client,
    worker,
    taskQueue,
    async knownSecrets() {
      const out: string[] = [];
      for (const id of ids) {
        for (const v of await store.listVersions(id)) {
          const s = await store.getSecret(id, v.version).catch(() => undefined);
          if (s) out.push(s.password);
        }
      }
      return out;
    },
    async addCredential(partial, current) {
      ids.push((await importCredential(store, partial, current, 'test')).id);
    },
    start: (input) => startRotation(client, taskQueue, input),
    async rotate(input) {
      const h = await rig.start(input);
      return (await h.result()) as RotationResult;
    },
    async close() {
      worker.shutdown();
      await running;
      recordSecrets([...generated, ...(await rig.knownSecrets())]);
      recordLogs(capturedLogs);
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

/** The same store, but every password made for a pending version is also handed to `record` (for leak scans). */
export function recordingGeneratedPasswords(
  store: ManagedCredentialStore,
  record: (password: string) => void,
): ManagedCredentialStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop !== 'createPending') {
        const value = Reflect.get(target, prop, receiver) as unknown;
        // Methods run on the real store (its private state is not on the proxy).
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      }
      const createPending: ManagedCredentialStore['createPending'] = (
        id,
        version,
        username,
        generate,
        actor,
      ) =>
        target.createPending(
          id,
          version,
          username,
          () => {
            const password = generate();
            record(password);
            return password;
          },
          actor,
        );
      return createPending;
    },
  });
}

export function uniqueCredentialId(prefix: string): string {
  return `${prefix}/${uniqueSuffix()}`;
}

/** Replays the workflow's full history from scratch: a worker restart must see the same decisions. */
export async function expectReplays(
  rig: RotationRig,
  workflowId: string,
  bundlePath: string = WORKFLOW_BUNDLE_PATH,
): Promise<void> {
  const history = await rig.client.workflow.getHandle(workflowId).fetchHistory();
  await Worker.runReplayHistory(
    {
      workflowBundle: { codePath: bundlePath },
      dataConverter: encryptedDataConverter(parseKeyring(rig.env.ROTATOR_CODEC_KEYS!)),
    },
    history,
    workflowId,
  );
}
