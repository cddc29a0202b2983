/**
 * Codec server modes for the Temporal Web UI (issue 16, item 5, server side):
 * the UI user's access token verified as a JWT against the issuer's JWKS, and
 * a loopback-only mode for a UI on the operator's machine. (The headless
 * Chromium run of the UI itself is not part of this test.)
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmPayloadCodec } from '../../src/codec/aes-gcm-codec';
import { createCodecServer } from '../../src/codec/server';
import { generateKeyBase64, parseKeyring } from '../../src/store';

const keyring = parseKeyring(`c1:${generateKeyBase64()}`);
const ISSUER = 'https://idp.example.test/';
const UI = 'http://127.0.0.1:8233';
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });

function jwt(
  claims: Record<string, unknown>,
  key: KeyObject = signing.privateKey,
  header: Record<string, unknown> = {},
) {
  const h = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT', ...header })).toString(
    'base64url',
  );
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const s = header.alg === 'none' ? '' : sign('sha256', Buffer.from(`${h}.${p}`), key).toString('base64url');
  return `${h}.${p}.${s}`;
}

const now = () => Math.floor(Date.now() / 1000);
const good = () => ({ iss: ISSUER, aud: 'temporal-ui', sub: 'alice', exp: now() + 300 });

let jwks: Server;
let jwksUrl: string;
const servers: Server[] = [];

async function listen(s: Server, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((r) => s.listen(0, host, r));
  servers.push(s);
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

beforeAll(async () => {
  jwks = createServer((_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(
      JSON.stringify({ keys: [{ ...signing.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256' }] }),
    );
  });
  jwksUrl = `${await listen(jwks)}/jwks.json`;
});
afterAll(() => {
  for (const s of servers) s.close();
});

async function encrypted() {
  const [p] = await new AesGcmPayloadCodec(keyring).encode([
    { metadata: { [METADATA_ENCODING_KEY]: Buffer.from('json/plain') }, data: Buffer.from('"visible"') },
  ]);
  return {
    metadata: Object.fromEntries(
      Object.entries(p!.metadata!).map(([k, v]) => [k, Buffer.from(v as Uint8Array).toString('base64')]),
    ),
    data: Buffer.from(p!.data!).toString('base64'),
  };
}

async function decode(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; text?: string }> {
  const res = await fetch(`${url}/decode`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ payloads: [await encrypted()] }),
  });
  if (res.status !== 200) return { status: res.status };
  const body = (await res.json()) as { payloads: Array<{ data: string }> };
  return { status: 200, text: Buffer.from(body.payloads[0]!.data, 'base64').toString() };
}

describe('JWT pass-through (the UI user access token)', () => {
  let url: string;
  beforeAll(async () => {
    url = await listen(
      createCodecServer({
        keyring,
        corsOrigin: UI,
        auth: { mode: 'jwt', issuer: ISSUER, jwksUrl, audience: 'temporal-ui' },
      }),
    );
  });

  it('a valid token decodes', async () => {
    expect(await decode(url, { Authorization: `Bearer ${jwt(good())}`, Origin: UI })).toEqual({
      status: 200,
      text: '"visible"',
    });
  });

  it('expired, foreign issuer, other audience, unknown signer, alg none and garbage are refused', async () => {
    for (const token of [
      jwt({ ...good(), exp: now() - 3600 }),
      jwt({ ...good(), iss: 'https://evil.example/' }),
      jwt({ ...good(), aud: 'something-else' }),
      jwt(good(), stranger.privateKey),
      jwt(good(), signing.privateKey, { alg: 'none' }),
      jwt(good(), signing.privateKey, { alg: 'HS256' }),
      'not-a-jwt',
    ]) {
      expect((await decode(url, { Authorization: `Bearer ${token}` })).status).toBe(401);
    }
    expect((await decode(url, {})).status).toBe(401);
  });
});

describe('loopback-only mode (a UI on the operator machine)', () => {
  it('serves loopback peers from the UI origin, refuses other origins', async () => {
    const url = await listen(createCodecServer({ keyring, corsOrigin: UI, auth: { mode: 'loopback' } }));
    expect((await decode(url, { Origin: UI })).status).toBe(200);
    expect((await decode(url, {})).status).toBe(200); // the CLI sends no Origin
    expect((await decode(url, { Origin: 'http://evil.example' })).status).toBe(401);
  });

  it('refuses a peer that is not on loopback', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    const server = createCodecServer({ keyring, corsOrigin: UI, auth: { mode: 'loopback' } });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    servers.push(server);
    const port = (server.address() as { port: number }).port;
    // Without a non-loopback interface, the loopback peer itself is the only case there is.
    const status = (await decode(`http://${external ?? '127.0.0.1'}:${port}`, {})).status;
    expect(status).toBe(external ? 401 : 200);
  });
});
