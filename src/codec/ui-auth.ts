/**
 * How the codec server decides who may decode (and encode) payloads.
 *
 *   token     a static bearer token (operators' CLI: --codec-auth "Bearer …").
 *   jwt       the Temporal Web UI passes the signed-in user's access token
 *             ("Pass access token" with --ui-codec-endpoint / the UI's codec
 *             setting); it is verified here as a JWT: signature against the
 *             issuer's JWKS (RS256/ES256/EdDSA), `iss`, optional `aud`, `exp`
 *             and `nbf` (60 s leeway). The static token stays accepted.
 *   loopback  no credential, for a UI running on the operator's own machine:
 *             only when the server listens on a loopback address, and only
 *             for requests from a loopback peer whose Origin (if any) is the
 *             configured UI origin. Never use it on a shared host.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';

export type CodecAuth =
  | { mode: 'token'; token: string }
  | { mode: 'jwt'; issuer: string; jwksUrl: string; audience?: string; token?: string }
  | { mode: 'loopback'; token?: string };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

export function isLoopback(address: string | undefined): boolean {
  return !!address && LOOPBACK.test(address);
}

interface Jwk {
  kid?: string;
  kty: string;
  alg?: string;
  [k: string]: unknown;
}

/** Fetches and caches an issuer's JWKS (refetched on an unknown kid, at most every 30 s). */
export class JwksCache {
  private keys = new Map<string, KeyObject>();
  private fetchedAt = 0;
  constructor(private readonly url: string) {}

  async key(kid: string | undefined): Promise<KeyObject | undefined> {
    const id = kid ?? '';
    if (!this.keys.has(id) && Date.now() - this.fetchedAt > 30_000) await this.refresh();
    return (
      this.keys.get(id) ??
      (kid === undefined && this.keys.size === 1 ? [...this.keys.values()][0] : undefined)
    );
  }

  private async refresh(): Promise<void> {
    this.fetchedAt = Date.now();
    const res = await fetch(this.url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`JWKS ${this.url}: HTTP ${res.status}`);
    const body = (await res.json()) as { keys?: Jwk[] };
    const next = new Map<string, KeyObject>();
    for (const jwk of body.keys ?? []) {
      try {
        next.set(jwk.kid ?? '', createPublicKey({ key: jwk as never, format: 'jwk' }));
      } catch {
        // skip keys we cannot use
      }
    }
    this.keys = next;
  }
}

function b64json(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

const ALGS: Record<string, { hash: string | null; dsa?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  ES256: { hash: 'sha256', dsa: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsa: 'ieee-p1363' },
  EdDSA: { hash: null },
};

/** Verifies a JWT; returns its claims or throws with a reason (never the token). */
export async function verifyJwt(
  jwt: string,
  opts: { issuer: string; audience?: string; jwks: JwksCache; now?: number },
): Promise<Record<string, unknown>> {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('not a JWT');
  const [h, p, sig] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = b64json(h);
    claims = b64json(p);
  } catch {
    throw new Error('malformed JWT');
  }
  const alg = typeof header.alg === 'string' ? ALGS[header.alg] : undefined;
  if (!alg) throw new Error(`JWT algorithm ${String(header.alg).slice(0, 10)} not accepted`);
  const key = await opts.jwks.key(typeof header.kid === 'string' ? header.kid : undefined);
  if (!key) throw new Error('JWT signed with an unknown key');
  const ok = verifySignature(
    alg.hash,
    Buffer.from(`${h}.${p}`),
    alg.dsa ? { key, dsaEncoding: alg.dsa } : key,
    Buffer.from(sig, 'base64url'),
  );
  if (!ok) throw new Error('JWT signature invalid');
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  if (claims.iss !== opts.issuer) throw new Error('JWT issuer not accepted');
  if (opts.audience !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(opts.audience)) throw new Error('JWT audience not accepted');
  }
  if (typeof claims.exp !== 'number' || claims.exp + 60 < now) throw new Error('JWT expired');
  if (typeof claims.nbf === 'number' && claims.nbf - 60 > now) throw new Error('JWT not valid yet');
  return claims;
}

/** A request authorizer for one configuration. Resolves true when the request may proceed. */
export function authorizer(auth: CodecAuth, corsOrigin: string): (req: IncomingMessage) => Promise<boolean> {
  const staticToken = auth.token ? Buffer.from(`Bearer ${auth.token}`) : undefined;
  const matchesToken = (given: string) => {
    if (!staticToken) return false;
    const g = Buffer.from(given);
    return g.length === staticToken.length && timingSafeEqual(g, staticToken);
  };
  const jwks = auth.mode === 'jwt' ? new JwksCache(auth.jwksUrl) : undefined;
  return async (req) => {
    const given = req.headers.authorization ?? '';
    if (matchesToken(given)) return true;
    switch (auth.mode) {
      case 'token':
        return false;
      case 'jwt': {
        const m = /^Bearer (.+)$/i.exec(given);
        if (!m) return false;
        try {
          await verifyJwt(m[1]!, { issuer: auth.issuer, audience: auth.audience, jwks: jwks! });
          return true;
        } catch {
          return false;
        }
      }
      case 'loopback': {
        const origin = req.headers.origin;
        return isLoopback(req.socket.remoteAddress) && (origin === undefined || origin === corsOrigin);
      }
    }
  };
}
