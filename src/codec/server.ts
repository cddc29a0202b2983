import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { authorizer, type CodecAuth } from './ui-auth';
import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec, type CodecKeyring } from './aes-gcm-codec';

/**
 * Codec server for the Temporal UI and CLI (`--codec-endpoint`): decodes our
 * encrypted payloads for authorized operators only. Every request needs
 * `Authorization: Bearer <token>`; CORS allows only the configured UI origin.
 */
export interface CodecServerOptions {
  keyring: CodecKeyring;
  /** Static bearer token (mode "token"; also accepted in the other modes when set). */
  token?: string;
  /** Who may call (./ui-auth.ts); default: the static token. */
  auth?: CodecAuth;
  corsOrigin: string;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export function createCodecServer(opts: CodecServerOptions): Server {
  const auth: CodecAuth = opts.auth ?? { mode: 'token', token: opts.token as string };
  // Refuse to exist without a real credential check: whoever reaches the port could decode every payload.
  const token = auth.token ?? opts.token;
  if (auth.mode === 'token' && (typeof token !== 'string' || token.length < 16)) {
    throw new Error(
      'codec server: a bearer token of at least 16 characters is required (ROTATOR_CODEC_SERVER_TOKEN)',
    );
  }
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) {
    throw new Error('codec server: the bearer token must have at least 16 characters');
  }
  if (auth.mode === 'jwt' && (!auth.issuer || !auth.jwksUrl)) {
    throw new Error('codec server: JWT mode needs an issuer and a JWKS URL');
  }
  const allowed = authorizer({ ...auth, ...(token ? { token } : {}) } as CodecAuth, opts.corsOrigin);
  // /decode serves plaintext payloads unchanged (what the UI shows as-is); the workers refuse them.
  const codec = new AesGcmPayloadCodec(opts.keyring, { allowPlaintext: true });
  return createServer((req, res) => {
    handle(req, res).catch(() => reply(res, 500, { error: 'codec failure' }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Access-Control-Allow-Origin', opts.corsOrigin);
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (req.method === 'OPTIONS') return reply(res, 204);
    if (!(await allowed(req))) return reply(res, 401, { error: 'unauthorized' });
    if (req.method !== 'POST' || (req.url !== '/encode' && req.url !== '/decode')) {
      return reply(res, 404, { error: 'use POST /encode or POST /decode' });
    }
    let body: { payloads?: JsonPayload[] };
    try {
      body = JSON.parse(await readBody(req)) as { payloads?: JsonPayload[] };
    } catch {
      return reply(res, 400, { error: 'body must be JSON {"payloads": [...]}' });
    }
    const payloads = (body.payloads ?? []).map(fromJson);
    const out = req.url === '/encode' ? await codec.encode(payloads) : await codec.decode(payloads);
    reply(res, 200, { payloads: out.map(toJson) });
  }
}

function reply(res: ServerResponse, status: number, body?: unknown): void {
  res.statusCode = status;
  if (body === undefined) return void res.end();
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, limit = 4 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: p.data === undefined ? undefined : Buffer.from(p.data, 'base64'),
  };
}

function toJson(p: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v as Uint8Array).toString('base64')]),
    ),
    data: p.data ? Buffer.from(p.data).toString('base64') : undefined,
  };
}
