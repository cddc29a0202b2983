/**
 * Persistence and topology of the Redis engine, on throwaway redis-server
 * processes this file starts itself (the shared server has a redis.conf that
 * tests must not rewrite): ACL SAVE to an aclfile, CONFIG REWRITE of
 * redis.conf, both checked across a restart, and the replica guard.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generatePassword } from '../../../src/engines/password';
import { createRedisEngine } from '../../../src/engines/redis';
import { sha256Hex } from '../../../src/engines/redis/acl';
import type { Engine } from '../../../src/engines/types';
import { addPassword, keepOnlyPassword, preflight, setPassword } from '../../helpers/engine-calls';

const haveRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ADMIN = 'persist_admin';
const ADMIN_PW = generatePassword();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

interface Throwaway {
  port: number;
  dir: string;
  conf: string;
  proc?: ChildProcess;
  log: string;
}

const started: Throwaway[] = [];

/** Connects once and authenticates as user/password: undefined when that worked, else the error. */
async function authError(t: Throwaway, user: string, password: string): Promise<unknown> {
  const c = new Redis({
    host: '127.0.0.1',
    port: t.port,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.call('AUTH', user, password);
    return undefined;
  } catch (err) {
    return err ?? new Error('AUTH failed');
  } finally {
    c.disconnect();
  }
}

async function waitReady(t: Throwaway): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const err = await authError(t, ADMIN, ADMIN_PW);
    if (err === undefined) return;
    if (Date.now() > deadline)
      throw new Error(`throwaway redis-server on ${t.port} not ready: ${String(err)}\n${t.log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function start(t: Throwaway): Promise<void> {
  const proc = spawn('redis-server', [t.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    t.log = (t.log + String(d)).slice(-4000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  t.proc = proc;
  await waitReady(t);
}

async function stop(t: Throwaway): Promise<void> {
  const p = t.proc;
  if (!p || p.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
}

/** A redis-server with users in an aclfile (`aclfile: true`) or inline in redis.conf. */
async function throwaway(opts: {
  aclfile: boolean;
  users: string[];
  extraConf?: string[];
}): Promise<Throwaway> {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-redis-'));
  const port = await freePort();
  const users = [`user ${ADMIN} on #${sha256Hex(ADMIN_PW)} ~* &* +@all`, 'user default off', ...opts.users];
  const conf = join(dir, 'redis.conf');
  const lines = [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    'save ""',
    'appendonly no',
    ...(opts.extraConf ?? []),
  ];
  if (opts.aclfile) {
    writeFileSync(join(dir, 'users.acl'), users.join('\n') + '\n');
    lines.push(`aclfile ${join(dir, 'users.acl')}`);
  } else {
    lines.push(...users);
  }
  writeFileSync(conf, lines.join('\n') + '\n');
  const t: Throwaway = { port, dir, conf, log: '' };
  started.push(t);
  await start(t);
  return t;
}

async function restart(t: Throwaway): Promise<void> {
  await stop(t);
  await start(t);
}

const engines: Engine[] = [];

/** An engine on `t` as its admin; closed after the test. */
function engineOn(t: Throwaway, options: Record<string, unknown> = {}): Engine {
  const e = createRedisEngine({
    host: '127.0.0.1',
    port: t.port,
    admin: { username: ADMIN, password: ADMIN_PW },
    options,
    // A private throwaway server on loopback, started without TLS: an explicit opt-out.
    tls: { mode: 'disabled', serverName: '127.0.0.1' },
  });
  return e;
}

async function canLogin(t: Throwaway, user: string, password: string): Promise<boolean> {
  return (await authError(t, user, password)) === undefined;
}

afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

afterAll(async () => {
  for (const t of started) {
    await stop(t);
    rmSync(t.dir, { recursive: true, force: true });
  }
});

const appPw = generatePassword();
const appUser = `user app on #${sha256Hex(appPw)} ~app:* resetchannels &chan:* -@all +@read +set (~other:* +get)`;

/** A throwaway server holding the `app` user (in an aclfile or in redis.conf), and an engine on it. */
async function appServer(aclfile: boolean, options?: Record<string, unknown>) {
  const t = await throwaway({ aclfile, users: [appUser] });
  return { t, e: engineOn(t, options) };
}

describe('Redis engine: persistence across restarts (throwaway redis-server)', () => {
  // Fail loudly rather than skip: scripts/services.sh installs redis-server.
  it('has a redis-server binary to start', () => {
    expect(haveRedisServer, 'redis-server not found (run: bash scripts/services.sh install)').toBe(true);
  });

  it('aclfile: every change is saved with ACL SAVE and survives a restart', async () => {
    const { t, e } = await appServer(true);
    const b = generatePassword();
    await e.createLoginLike('app', 'app_b', b);
    const next = generatePassword();
    await addPassword(e, 'app', next, appPw);
    await keepOnlyPassword(e, 'app', next);
    expect(readFileSync(join(t.dir, 'users.acl'), 'utf8')).toMatch(/^user app_b on #/m);
    await e.close();

    await restart(t);
    expect(await canLogin(t, 'app_b', b)).toBe(true);
    expect(await canLogin(t, 'app', next)).toBe(true);
    expect(await canLogin(t, 'app', appPw)).toBe(false);
    const e2 = engineOn(t);
    expect(await e2.comparePrivileges('app', 'app_b')).toEqual({ missing: [], extra: [] });
    await e2.dropLogin('app_b');
    await e2.close();
    await restart(t);
    expect(await canLogin(t, 'app_b', b)).toBe(false);
  });

  it('redis.conf users: CONFIG REWRITE keeps the change across a restart', async () => {
    const { t, e } = await appServer(false);
    const b = generatePassword();
    await e.createLoginLike('app', 'app_b', b);
    await setPassword(e, 'app', b);
    expect(readFileSync(t.conf, 'utf8')).toMatch(/^user app_b on #/m);
    await e.close();
    await restart(t);
    expect(await canLogin(t, 'app_b', b)).toBe(true);
    expect(await canLogin(t, 'app', b)).toBe(true);
    expect(await canLogin(t, 'app', appPw)).toBe(false);
  });

  it('persist "none" leaves the files alone: a restart forgets the change', async () => {
    const { t, e } = await appServer(true, { persist: 'none' });
    await e.createLoginLike('app', 'app_b', generatePassword());
    await e.close();
    expect(readFileSync(join(t.dir, 'users.acl'), 'utf8')).not.toContain('app_b');
    await restart(t);
    expect(await canLogin(t, 'app', appPw)).toBe(true);
  });

  it('refuses a primary with replicas (ACL is not replicated) unless nodeLocalAcl acknowledges it', async () => {
    const primary = await throwaway({ aclfile: false, users: [appUser] });
    await throwaway({
      aclfile: false,
      users: [appUser],
      extraConf: [`replicaof 127.0.0.1 ${primary.port}`, `masteruser ${ADMIN}`, `masterauth ${ADMIN_PW}`],
    });
    const e = engineOn(primary, { persist: 'none' });
    const deadline = Date.now() + 20_000;
    let info = await e.describe();
    while (info.strategies['dual-user'].supported && Date.now() < deadline) {
      await e.close();
      const again = engineOn(primary, { persist: 'none' });
      await new Promise((r) => setTimeout(r, 200));
      info = await again.describe();
    }
    expect(info.strategies['dual-user']).toEqual({
      supported: false,
      reason: expect.stringMatching(/not replicated/),
    });
    expect(info.strategies.single.supported).toBe(false);
    const ack = engineOn(primary, { persist: 'none', nodeLocalAcl: true });
    expect((await ack.describe()).strategies['dual-password'].supported).toBe(true);
    await preflight(ack, 'app', 'dual-password');
  });
});
