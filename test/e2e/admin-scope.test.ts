/**
 * Trust boundary (issue 16, item 1): an admin credential goes only to its own
 * server. A definition that points a real admin (PostgreSQL here) at another
 * engine/host/port is a blocker before any connection is opened, in the
 * rotation's preflight and in the dry run; a definition edited in the store
 * without the key is refused the same way. A TCP "trap" listener stands in
 * for the attacker's host and counts every connection it receives.
 */
import { promises as fs } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT, type DryRunReport } from '../../src/client';
import { entryFileName } from '../../src/store/dir-store';
import { addPgAdmin, addPgApp } from '../helpers/pg-rig';
import { withPgRig } from '../helpers/with-pg-rig';
import { uniqueCredentialId, type RotationRig } from '../helpers/rotation';
import { services } from '../helpers/services';
import { runCli } from '../helpers/cli';

interface Trap {
  port: number;
  connections: number;
  bytes: Buffer[];
  close(): Promise<void>;
}

async function trap(): Promise<Trap> {
  const sockets: Socket[] = [];
  const t = { connections: 0, bytes: [] as Buffer[] } as Trap;
  const server: Server = createServer((s) => {
    t.connections++;
    sockets.push(s);
    s.on('data', (d) => t.bytes.push(d));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.port = (server.address() as { port: number }).port;
  t.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return t;
}

const cli = (rig: RotationRig, ...args: string[]) =>
  runCli(args, { ...rig.env, ROTATOR_ACTOR: 'admin-scope-test' });

async function failureOf(rig: RotationRig, credentialId: string): Promise<string> {
  const h = await rig.start({ credentialId });
  const err = (await h.result().catch((e: unknown) => e)) as Error & { cause?: Error & { cause?: Error } };
  expect(err).toBeInstanceOf(Error);
  return `${err.cause?.cause?.message ?? err.cause?.message ?? err.message}`;
}

describe('an admin credential is used only against its own server', () => {
  const fx = withPgRig();
  let t: Trap;
  let adminId: string;

  beforeEach(async () => {
    t = await trap();
    adminId = await addPgAdmin(fx.rig, fx.pg);
  });
  afterEach(async () => {
    await t?.close();
  });

  const planOf = (r: { out: string }) => JSON.parse(r.out) as DryRunReport;

  for (const engine of ['redis', 'postgres'] as const) {
    it(`a ${engine} definition on another host:port naming the PostgreSQL admin is blocked before any connection (preflight and dry run)`, async () => {
      const id = uniqueCredentialId('victim');
      await fx.rig.addCredential(
        { id, engine, host: '127.0.0.1', port: t.port, adminCredentialId: adminId, baseUsername: 'x' },
        { username: 'x', password: 'x-initial-password' },
      );
      const why = await failureOf(fx.rig, id);
      expect(why).toMatch(
        new RegExp(
          `credential "${id}" targets ${engine} 127\\.0\\.0\\.1:${t.port}, but its admin credential "${adminId}" belongs to postgres ${services.postgres.host}:${services.postgres.port}; refusing to send the admin password there`,
        ),
      );
      const r = await cli(fx.rig, 'rotate', id, '--dry-run', '--json');
      expect(r.code).toBe(EXIT.blocked);
      expect(planOf(r).blockers.join('\n')).toMatch(/refusing to send the admin password there/);
      expect(t.connections).toBe(0);
      expect(Buffer.concat(t.bytes).toString('latin1')).not.toContain(services.postgres.password);
    });
  }

  it("the same server under another name works once a key holder lists it in the admin's allowedServers", async () => {
    const app = await addPgApp(fx.rig, fx.pg, adminId, 'app');
    const def = await fx.rig.store.getDefinition(app.id);
    await fx.rig.store.putDefinition({ ...def, host: 'localhost' }, 'test');
    let r = await cli(fx.rig, 'rotate', app.id, '--dry-run', '--json');
    expect(r.code).toBe(EXIT.blocked);
    expect(planOf(r).blockers.join('\n')).toMatch(/targets postgres localhost:/);

    const admin = await fx.rig.store.getDefinition(adminId);
    await fx.rig.store.putDefinition(
      { ...admin, allowedServers: [{ host: 'LOCALHOST', port: services.postgres.port }] },
      'test',
    );
    r = await cli(fx.rig, 'rotate', app.id, '--dry-run', '--json');
    expect(r.err).toBe('');
    expect(planOf(r).blockers).toEqual([]);
    expect(planOf(r).serverVersion).toMatch(/postgresql/);
    // ... but a port not on the list is still refused
    await fx.rig.store.putDefinition({ ...def, port: t.port }, 'test');
    expect(await failureOf(fx.rig, app.id)).toMatch(/refusing to send the admin password there/);
    expect(t.connections).toBe(0);
  });

  it('a definition redirected by editing the store file without the key is refused before any connection', async () => {
    const app = await addPgApp(fx.rig, fx.pg, adminId, 'app');
    // The embedded store keeps one file per credential (src/store/dir-store.ts).
    const fileOf = (id: string) => join(fx.rig.env.ROTATOR_STORE_PATH!, 'credentials', entryFileName(id));
    const originals = new Map<string, string>();
    const edit = async (id: string, change: (definition: Record<string, unknown>) => void) => {
      const text = await fs.readFile(fileOf(id), 'utf8');
      originals.set(id, text);
      const entry = JSON.parse(text);
      change(entry.definition);
      await fs.writeFile(fileOf(id), JSON.stringify(entry));
    };
    await edit(app.id, (d) => (d.port = t.port));
    // Even the admin's allowlist, edited the same way, cannot open the door.
    await edit(adminId, (d) => (d.allowedServers = [{ host: '127.0.0.1', port: t.port }]));

    expect(await failureOf(fx.rig, app.id)).toMatch(/its definition was changed without the store key/);
    const r = await cli(fx.rig, 'rotate', app.id, '--dry-run', '--json');
    expect(r.code).not.toBe(EXIT.ok);
    expect(`${r.out}\n${r.err}`).toMatch(/changed without the store key/);
    expect(t.connections).toBe(0);
    // The rig's cleanup reads the store.
    for (const [id, text] of originals) await fs.writeFile(fileOf(id), text);
  });
});
