import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createCodecServer } from '../../src/codec/server';
import { parseKeyring } from '../../src/store/crypto';
import { rotationWorkflowId } from '../../src/shared/constants';
import type { RotationResult } from '../../src/shared/types';
import { addPgAdmin, addPgApp, eventually } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';
import { REPO_ROOT } from '../helpers/services';
import { uniqueTaskQueue } from '../helpers/temporal';
import { freePort } from '../helpers/faults';

describe('worker process: metrics, logs; codec server', () => {
  const t = withPgRig();
  let worker: ChildProcess | undefined;
  let workerOutput = '';

  afterEach(async () => {
    worker?.kill('SIGINT');
  });

  it('the real worker rotates, serves Prometheus metrics and logs no secret', async () => {
    const adminId = await addPgAdmin(t.rig, t.pg);
    const app = await addPgApp(t.rig, t.pg, adminId, 'obs');
    const metricsPort = await freePort();
    const taskQueue = uniqueTaskQueue('proc');
    worker = spawn(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join(REPO_ROOT, 'src', 'worker.ts')], {
      env: {
        ...process.env,
        ...t.rig.env,
        ROTATOR_TASK_QUEUE: taskQueue,
        ROTATOR_METRICS_PORT: String(metricsPort),
        ROTATOR_HEALTH_PORT: '0',
        ROTATOR_LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (d: Buffer) => (workerOutput += d.toString()));
    worker.stderr!.on('data', (d: Buffer) => (workerOutput += d.toString()));
    await eventually(async () => workerOutput.includes('worker started'), 90_000);

    const handle = await t.rig.client.workflow.start('rotateCredential', {
      args: [{ credentialId: app.id, graceMs: 0, drainTimeoutMs: 0 }],
      taskQueue,
      workflowId: rotationWorkflowId(app.id),
    });
    expect(((await handle.result()) as RotationResult).outcome).toBe('rotated');

    const metrics = await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return text.includes('rotator_rotations') ? text : undefined;
    });
    for (const series of [
      'rotator_rotations',
      'rotator_phase_duration',
      'rotator_grace_deadline_seconds',
      'rotator_consumers_behind',
      'temporal_workflow_completed',
      'temporal_activity_execution_latency',
    ]) {
      expect(metrics, series).toContain(series);
    }
    expect(metrics).toMatch(/rotator_rotations\{[^}]*outcome="rotated"/);

    const secrets = await t.rig.knownSecrets();
    for (const s of secrets) expect(workerOutput.includes(s), 'secret in worker output').toBe(false);
    expect(workerOutput).toContain('"level"'); // structured (pino JSON) logs
  });

  it('codec server decodes history payloads only for a bearer of the token', async () => {
    const adminId = await addPgAdmin(t.rig, t.pg);
    const app = await addPgApp(t.rig, t.pg, adminId, 'codec');
    await t.rig.rotate({ credentialId: app.id, graceMs: 0, drainTimeoutMs: 0 });
    const history = await t.rig.client.workflow.getHandle(rotationWorkflowId(app.id)).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const json = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(input.data!).toString('base64'),
        },
      ],
    };
    const server = createCodecServer({
      keyring: parseKeyring(t.rig.env.ROTATOR_CODEC_KEYS!),
      token: 'operator-token-0123456789',
      corsOrigin: 'http://ui',
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/decode`;
    try {
      const denied = await fetch(url, { method: 'POST', body: JSON.stringify(json) });
      expect(denied.status).toBe(401);
      const ok = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(json),
        headers: { Authorization: 'Bearer operator-token-0123456789' },
      });
      expect(ok.status).toBe(200);
      const decoded = (await ok.json()) as { payloads: Array<{ data: string }> };
      expect(Buffer.from(decoded.payloads[0]!.data, 'base64').toString()).toContain(app.id);
      expect(ok.headers.get('access-control-allow-origin')).toBe('http://ui');
    } finally {
      server.close();
    }
  });
});
