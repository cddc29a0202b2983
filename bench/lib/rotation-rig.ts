/**
 * Our rotation for the bench and scripts/workload.ts: a file store in a temp
 * dir, a worker with the production activities on the Temporal dev server
 * (in this process), and a client with the encrypting data converter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { encryptedDataConverter, type CodecKeyring } from '../../src/codec';
import { productionActivities } from '../../src/runtime';
import { TASK_QUEUE } from '../../src/shared/constants';
import type { RotationInput } from '../../src/shared/types';
import { FileStore, openStore, SecretCipher, type ManagedCredentialStore } from '../../src/store';
import { generateKeyBase64, parseKeyring } from '../../src/store/crypto';
import type { CredentialDefinition, RotationPolicy } from '../../src/store/types';
import { importCredential, startRotation } from '../../test/helpers/rotation';

export interface BenchRig {
  store: ManagedCredentialStore;
  taskQueue: string;
  client: Client;
  addCredential(
    def: Omit<Partial<CredentialDefinition>, 'policy'> &
      Pick<CredentialDefinition, 'id' | 'engine'> & { policy?: Partial<RotationPolicy> },
    current: { username: string; password: string },
  ): Promise<void>;
  start(input: RotationInput): ReturnType<Client['workflow']['start']>;
  close(): Promise<void>;
}

export interface BenchRigOptions {
  /** Embedded store: the default directory store, or the single JSON file (format 1) to compare. */
  store?: 'dir' | 'single-file';
  /** Worker tuning to measure (slots, cache, sticky timeout). */
  worker?: Partial<WorkerOptions>;
}

let runtimeInstalled = false;

export async function createBenchRig(temporalAddress: string, opts: BenchRigOptions = {}): Promise<BenchRig> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      // installed already
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-'));
  const cipher = new SecretCipher(parseKeyring(`k1:${generateKeyBase64()}`));
  const store =
    opts.store === 'single-file'
      ? await FileStore.open(join(dir, 'store.json'), cipher)
      : await openStore({ backend: 'file', path: join(dir, 'store') }, cipher);
  const keyring: CodecKeyring = { activeKeyId: 'bench', keys: { bench: randomBytes(32) } };
  const taskQueue = `${TASK_QUEUE}-bench-${randomBytes(4).toString('hex')}`;
  const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    // As the production worker: a prebuilt bundle when ROTATOR_WORKFLOW_BUNDLE names one
    // (webpack at start costs the process ~100 MB of RSS it never gives back).
    ...(process.env.ROTATOR_WORKFLOW_BUNDLE
      ? { workflowBundle: { codePath: process.env.ROTATOR_WORKFLOW_BUNDLE } }
      : { workflowsPath: join(__dirname, '..', '..', 'src', 'workflows', 'index.ts') }),
    activities: productionActivities(store, 'bench-worker'),
    dataConverter: encryptedDataConverter(keyring),
    ...opts.worker,
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, dataConverter: encryptedDataConverter(keyring) });
  return {
    store,
    taskQueue,
    client,
    async addCredential(partial, current) {
      // No discovery wait unless the bench asks for one (the zero-downtime bench does).
      await importCredential(store, partial, current, 'bench');
    },
    start: (input) => startRotation(client, taskQueue, input),
    async close() {
      worker.shutdown();
      await running;
      await connection.close();
      await nativeConnection.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
