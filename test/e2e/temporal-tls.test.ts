/**
 * Temporal transport and codec (issue 16, item 3), against the dev server
 * behind stunnel (scripts/tls.sh: TLS on 7234, mTLS on 7235):
 *
 * - worker (NativeConnection), CLI/client (Connection) and an application's
 *   heartbeat client connect with TLS from config/environment; a wrong CA, a
 *   wrong server name and (on the mTLS port) a missing client certificate
 *   are refused;
 * - the codec refuses unencrypted payloads (a plain `temporal workflow
 *   start`), while the Temporal CLI through the codec server's /encode
 *   (`--codec-endpoint`) starts and signals workflows that run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT, main } from '../../src/client';
import { encryptedDataConverter } from '../../src/codec';
import { AesGcmPayloadCodec, CodecError } from '../../src/codec/aes-gcm-codec';
import { createCodecServer } from '../../src/codec/server';
import { loadConfig } from '../../src/config';
import { connectClient, connectWorkerConnection } from '../../src/runtime';
import { generateKeyBase64, parseKeyring } from '../../src/store';
import { connectTemporal, temporalSettingsFromEnv } from '../../src/temporal-connection';
import { services } from '../helpers/services';
import { HELLO_WORKFLOWS_PATH, helloActivities } from '../helpers/hello-workflow';
import { capturedLogs, devServerEnv, uniqueTaskQueue } from '../helpers/temporal';

const run = promisify(execFile);
const TLS_ADDRESS = process.env.TEMPORAL_TLS_ADDRESS ?? '127.0.0.1:7234';
const MTLS_ADDRESS = process.env.TEMPORAL_MTLS_ADDRESS ?? '127.0.0.1:7235';
const tlsDir = join(services.stateDir, 'tls');
const CA = join(tlsDir, 'ca.crt');
const codecKeys = `c1:${generateKeyBase64()}`;
const keyring = parseKeyring(codecKeys);
const temporalBin = join(services.stateDir, 'bin', 'temporal');

function envFor(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ROTATOR_STORE_KEYS: `k1:${generateKeyBase64()}`,
    ROTATOR_CODEC_KEYS: codecKeys,
    TEMPORAL_ADDRESS: TLS_ADDRESS,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: CA,
    ...extra,
  };
}

async function canConnect(env: NodeJS.ProcessEnv): Promise<true | string> {
  try {
    const client = await connectClient(loadConfig(env));
    try {
      await client.connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await client.connection.close();
    }
  } catch (e) {
    return (e as Error).message;
  }
}

let worker: Worker;
let running: Promise<void>;
const taskQueue = uniqueTaskQueue('tls');
let codecServer: Server;
let codecUrl: string;
const token = randomBytes(24).toString('hex');

let plainEnv: Awaited<ReturnType<typeof devServerEnv>>;
beforeAll(async () => {
  plainEnv = await devServerEnv(); // installs the runtime logger whose lines capturedLogs keeps
  // The worker reaches Temporal only through TLS (config from the environment).
  const cfg = loadConfig(envFor({}));
  worker = await Worker.create({
    connection: await connectWorkerConnection(cfg),
    taskQueue,
    workflowsPath: HELLO_WORKFLOWS_PATH, // test plumbing, not the production workflows
    activities: helloActivities,
    dataConverter: encryptedDataConverter(keyring),
  });
  running = worker.run();
  codecServer = createCodecServer({ keyring, token, corsOrigin: 'http://127.0.0.1:8233' });
  await new Promise<void>((r) => codecServer.listen(0, '127.0.0.1', r));
  codecUrl = `http://127.0.0.1:${(codecServer.address() as { port: number }).port}`;
}, 60_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  codecServer?.close();
  await plainEnv?.teardown();
});

describe('Temporal over TLS (stunnel in front of the dev server)', () => {
  it('worker and client run a workflow over TLS configured from the environment', async () => {
    const client = await connectClient(loadConfig(envFor({})));
    try {
      const result = await client.workflow.execute('hello', {
        args: ['tls'],
        taskQueue,
        workflowId: `tls-${taskQueue}`,
      });
      expect(result).toBe('hello, tls');
    } finally {
      await client.connection.close();
    }
  });

  it('a wrong CA or a wrong server name is refused', async () => {
    expect(
      await canConnect(envFor({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(tlsDir, 'other-ca.crt') })),
    ).not.toBe(true);
    expect(await canConnect(envFor({ TEMPORAL_TLS_SERVER_NAME: 'temporal.example.com' }))).not.toBe(true);
    expect(await canConnect(envFor({ TEMPORAL_TLS_SERVER_NAME: 'localhost' }))).toBe(true);
  });

  it('mTLS: the client certificate from config gets in, no certificate does not', async () => {
    const mtls = { TEMPORAL_ADDRESS: MTLS_ADDRESS };
    expect(await canConnect(envFor(mtls))).not.toBe(true);
    expect(
      await canConnect(
        envFor({
          ...mtls,
          TEMPORAL_TLS_CLIENT_CERT_PATH: join(tlsDir, 'client.crt'),
          TEMPORAL_TLS_CLIENT_KEY_PATH: join(tlsDir, 'client.key'),
        }),
      ),
    ).toBe(true);
  });

  it("the CLI connects over TLS (a missing rotation is 'not found', not a connection error)", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, envFor({}), {
      ROTATOR_STORE_PATH: join(services.stateDir, 'unused', 'store.json'),
    });
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['node', 'db-rotator', 'status', `no-such/${taskQueue}`])).toBe(EXIT.notFound);
    } finally {
      process.env = saved;
      err.mockRestore();
    }
  });

  it("an application's heartbeat client connects over TLS from the environment", async () => {
    const connection = await connectTemporal(temporalSettingsFromEnv(envFor({}) as NodeJS.ProcessEnv));
    try {
      const client = new Client({ connection, dataConverter: encryptedDataConverter(keyring) });
      const h = await client.workflow.start('hello', {
        args: ['hb', 60_000],
        taskQueue,
        workflowId: `hb-${taskQueue}`,
      });
      await h.signal('consumerHeartbeat', { consumerId: 'app-1', version: 1 });
      await h.terminate('test done');
    } finally {
      await connection.close();
    }
  });

  it('an API key turns TLS on and is passed to the SDK', async () => {
    const { temporalConnectionOptions } = await import('../../src/temporal-connection');
    const o = temporalConnectionOptions(loadConfig(envFor({ TEMPORAL_API_KEY: 'key-123' })).temporal);
    expect(o.apiKey).toBe('key-123');
    expect(o.tls).toBeDefined();
    // and it still connects through the TLS endpoint (the dev server ignores the key)
    expect(await canConnect(envFor({ TEMPORAL_API_KEY: 'key-123' }))).toBe(true);
  });
});

describe('the codec refuses plaintext; the Temporal CLI goes through /encode', () => {
  const cli = (...args: string[]) =>
    run(temporalBin, [...args, '--address', TLS_ADDRESS, '--tls-ca-path', CA], { timeout: 60_000 });
  // Functions: the codec server's URL and token are known only once beforeAll ran.
  const viaCodec = () => ['--codec-endpoint', codecUrl, '--codec-auth', `Bearer ${token}`];
  /** `temporal workflow execute|start` of the hello workflow, one --input per `inputs`. */
  const helloCli = (verb: 'execute' | 'start', id: string, inputs: string[], ...extra: string[]) =>
    cli(
      'workflow',
      verb,
      ...['--type', 'hello', '--task-queue', taskQueue, '--workflow-id', id],
      ...inputs.flatMap((i) => ['--input', i]),
      ...extra,
    );

  it('temporal workflow execute/signal with --codec-endpoint work', async () => {
    const id = `cli-${taskQueue}`;
    const { stdout } = await helloCli('execute', id, ['"cli"'], ...viaCodec());
    expect(stdout).toContain('hello, cli');
    const id2 = `cli-signal-${taskQueue}`;
    await helloCli('start', id2, ['"sig"', '1500'], ...viaCodec());
    await cli(
      'workflow',
      'signal',
      '--workflow-id',
      id2,
      '--name',
      'consumerHeartbeat',
      '--input',
      '{"consumerId":"cli","version":1}',
      ...viaCodec(),
    );
    const { stdout: res } = await cli('workflow', 'result', '--workflow-id', id2, ...viaCodec());
    expect(res).toContain('hello, sig');
  }, 90_000);

  it('a plain `temporal workflow start` (no codec) is refused by the worker with a clear error', async () => {
    const id = `plain-${taskQueue}`;
    await helloCli('start', id, ['"plain"']);
    const deadline = Date.now() + 30_000;
    while (!capturedLogs.join('\n').includes('refusing an unencrypted payload')) {
      if (Date.now() > deadline) throw new Error('the worker did not report the unencrypted payload');
      await new Promise((r) => setTimeout(r, 250));
    }
    await cli('workflow', 'terminate', '--workflow-id', id, '--reason', 'test done');
  }, 60_000);
});

describe('codec details', () => {
  const codec = new AesGcmPayloadCodec(keyring);
  const enc = async (v: string) => (await codec.encode([{ metadata: {}, data: Buffer.from(v) }]))[0]!;

  it('pins the GCM tag to 16 bytes and rejects short blobs', async () => {
    const p = await enc('"x"');
    const truncated = { ...p, data: Buffer.from(p.data!).subarray(0, p.data!.length - 4) };
    await expect(codec.decode([truncated])).rejects.toThrow(/authentication failed/);
    await expect(codec.decode([{ ...p, data: Buffer.alloc(20) }])).rejects.toThrow(
      /too short \(20 bytes; at least 28\)/,
    );
  });

  it('refuses plaintext by default; key ids are looked up in a Map', async () => {
    const plain = {
      metadata: { [METADATA_ENCODING_KEY]: Buffer.from('json/plain') },
      data: Buffer.from('1'),
    };
    await expect(codec.decode([plain])).rejects.toBeInstanceOf(CodecError);
    const p = await enc('"x"');
    const proto = { ...p, metadata: { ...p.metadata, 'encryption-key-id': Buffer.from('__proto__') } };
    await expect(codec.decode([proto])).rejects.toThrow(/unknown key id "__proto__"/);
    expect(await new AesGcmPayloadCodec(keyring, { allowPlaintext: true }).decode([plain])).toEqual([plain]);
  });

  it('the codec server refuses to start without a token', () => {
    expect(() => createCodecServer({ keyring, token: '', corsOrigin: 'x' })).toThrow(/token of at least 16/);
    expect(() => createCodecServer({ keyring, token: undefined as never, corsOrigin: 'x' })).toThrow(/token/);
  });
});
