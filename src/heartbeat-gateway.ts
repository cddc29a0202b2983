import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { describeRunningRun, waitsOnConsumers } from './consumer/rotation-run';
import { rotationWorkflowId } from './shared/constants';
import { consumerHeartbeatSignal } from './shared/messages';
import { CREDENTIAL_ID_RE } from './store/schema';

/**
 * Heartbeats without master keys. An application reports the version it uses
 * with `POST /v1/heartbeat {credentialId, consumerId, version}` and a bearer
 * token that is valid for its own credential only:
 * token = base64url(HMAC-SHA256(gateway key, "heartbeat\0" + credentialId)).
 * The worker (which holds the Temporal client and codec keys) turns a valid
 * report into the consumerHeartbeat signal of `rotate/<credentialId>`.
 *
 * What a token allows: telling the rotator which version of ONE credential an
 * instance uses (at worst, a false report delays or hurries that
 * credential's revoke within its own grace and migration bounds). It cannot
 * read any credential, reach Temporal, or send an operator control (abort,
 * rollback, finishGrace): the gateway sends nothing but the heartbeat signal.
 * The gateway key is its own secret (ROTATOR_HEARTBEAT_KEY), not the store
 * keyring or a codec key.
 */

export function heartbeatToken(key: Buffer, credentialId: string): string {
  return createHmac('sha256', key).update(`heartbeat\0${credentialId}`).digest('base64url');
}

const MAX_BODY_BYTES = 4096;

const reportSchema = z.strictObject({
  credentialId: z.string().regex(CREDENTIAL_ID_RE),
  consumerId: z.string().min(1).max(200),
  version: z.number().int().positive(),
});

export interface HeartbeatGateway {
  port: number;
  close(): Promise<void>;
}

export async function startHeartbeatGateway(opts: {
  client: Pick<Client, 'workflow'>;
  key: Buffer;
  host?: string;
  port?: number;
}): Promise<HeartbeatGateway> {
  const server: Server = createServer((req, res) => {
    handle(req, res, opts).catch(() => reply(res, 500, 'internal error'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { client: Pick<Client, 'workflow'>; key: Buffer },
): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/v1/heartbeat') return reply(res, 404, 'not found');
  const body = await readBody(req);
  if (body === undefined) return reply(res, 413, 'body too large');
  let report: z.output<typeof reportSchema>;
  try {
    report = reportSchema.parse(JSON.parse(body));
  } catch {
    return reply(res, 400, 'expected {credentialId, consumerId, version}');
  }
  const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '', 'utf8');
  const expected = Buffer.from(heartbeatToken(opts.key, report.credentialId), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return reply(res, 401, 'token not valid for this credential');
  }
  const workflowId = rotationWorkflowId(report.credentialId);
  // Applications post every period; the rotation needs one report per version per run (and every
  // period only while it waits on consumers). The rest would be history for nothing.
  const run = await describeRunningRun(opts.client, workflowId, report.consumerId, report.version).catch(
    () => undefined,
  );
  if (run === 'no-rotation') return reply(res, 404, 'no rotation running');
  if (run?.listsUs && !waitsOnConsumers(run)) return reply(res, 204);
  try {
    await opts.client.workflow
      .getHandle(workflowId)
      .signal(consumerHeartbeatSignal, { consumerId: report.consumerId, version: report.version });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return reply(res, 404, 'no rotation running');
    return reply(res, 502, 'could not reach the rotation');
  }
  reply(res, 204);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
      } else chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, message?: string): void {
  if (res.headersSent) return;
  res.writeHead(status, message ? { 'content-type': 'text/plain' } : {});
  res.end(message);
}

/** The worker's gateway when ROTATOR_HEARTBEAT_LISTEN (host:port) and ROTATOR_HEARTBEAT_KEY (base64, ≥32 bytes) are set. */
export async function gatewayFromEnv(
  env: NodeJS.ProcessEnv,
  client: Pick<Client, 'workflow'>,
): Promise<HeartbeatGateway | undefined> {
  const listen = env.ROTATOR_HEARTBEAT_LISTEN;
  if (!listen) return undefined;
  const key = Buffer.from(env.ROTATOR_HEARTBEAT_KEY ?? '', 'base64');
  if (key.length < 32) throw new Error('ROTATOR_HEARTBEAT_KEY must be at least 32 bytes, base64');
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new Error('ROTATOR_HEARTBEAT_LISTEN must be host:port');
  return startHeartbeatGateway({ client, key, host: m[1], port: Number(m[2]) });
}
