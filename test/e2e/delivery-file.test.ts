import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { statusQuery } from '../../src/shared/messages';
import { runCli } from '../helpers/cli';
import { pgLogsIn } from '../helpers/pg-rig';
import { withFileDeliveredApp } from '../helpers/with-pg-rig';
import { services } from '../helpers/services';

interface Shown {
  version: number;
  username: string;
  password: string;
  database: string;
}
const shown = (dir: string) => JSON.parse(readFileSync(join(dir, 'credential.json'), 'utf8')) as Shown;
const versionDirs = (dir: string) => readdirSync(dir).filter((e) => /^\.\.\d/.test(e));

const logsIn = (c: Shown) => pgLogsIn(c.database, c.username, c.password);

describe('rotation delivers to a file target (dev server, PostgreSQL, real file system)', () => {
  const { t, app: fx } = withFileDeliveredApp(
    'delivery-e2e-',
    'pg-app',
    (pg, login) => pg.admin.query(`GRANT ALL ON SCHEMA public TO "${login}"`).then(() => undefined),
    { renderings: ['uri', 'pgpass'] },
  );
  // Read for each test (the fixture makes a new login, credential and directory every time).
  let credentialId: string;
  let app: string;
  let dir: string;
  beforeEach(() => {
    ({ credentialId, login: app, dir } = fx);
  });

  it('publishes each new version, which logs in; old versions are pruned after revoke', async () => {
    for (let round = 1; round <= 2; round++) {
      const r = await t.rig.rotate({ credentialId, graceMs: 500, drainTimeoutMs: 0 });
      expect(r.outcome).toBe('rotated');
      const cur = await t.rig.store.getSecret(credentialId, 'CURRENT');
      const c = shown(dir);
      expect(c).toMatchObject({ version: round + 1, username: cur.username, database: t.pg.database });
      expect(c.password).toBe(cur.password);
      expect(readFileSync(join(dir, 'password'), 'utf8')).toBe(cur.password);
      expect(await logsIn(c)).toBe(true);
      expect(versionDirs(dir)).toEqual([readlinkSync(join(dir, '..data'))]);
    }
    // The .pgpass rendering works for libpq itself.
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(
      'psql',
      [
        '-w',
        '-h',
        services.postgres.host,
        '-p',
        String(services.postgres.port),
        '-d',
        t.pg.database,
        '-U',
        shown(dir).username,
        '-Atc',
        'select current_user',
      ],
      { env: { ...process.env, PGPASSFILE: join(dir, '.pgpass'), PGPASSWORD: '' } },
    ).toString();
    expect(out.trim()).toBe(shown(dir).username);
  });

  it('during grace the file shows the new version; rollback puts the old one back', async () => {
    const handle = await t.rig.start({ credentialId, graceMs: 60_000, drainTimeoutMs: 0 });
    for (let i = 0; i < 200; i++) {
      if ((await handle.query(statusQuery)).phase === 'grace') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(shown(dir).version).toBe(2);
    expect(await logsIn(shown(dir))).toBe(true);
    await handle.executeUpdate('rollback', { args: [{ reason: 'test' }] });
    expect((await handle.result()).outcome).toBe('rolled-back');
    expect(shown(dir)).toMatchObject({ version: 1, username: app, password: 'initial-Pw-1' });
    expect(await logsIn(shown(dir))).toBe(true);
  });

  it('`targets publish` delivers the CURRENT version before any rotation (bootstrap)', async () => {
    const r = await runCli(['targets', 'publish', credentialId], t.rig.env);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`published: file ${dir}`);
    expect(shown(dir)).toMatchObject({ version: 1, username: app, password: 'initial-Pw-1' });
    expect(await logsIn(shown(dir))).toBe(true);
  });

  it('a dry run lists what each target would do and changes no file', async () => {
    const r = await t.rig.rotate({ credentialId, dryRun: true });
    expect(r.dryRun?.delivery).toEqual([
      `pending: file ${dir}: nothing (no pending notion)`,
      expect.stringMatching(/^promote: file .*: write username, password, credential.json, uri, pgpass/),
      expect.stringMatching(/^rollback: /),
      expect.stringMatching(/^revoke: /),
    ]);
    expect(r.dryRun?.plan?.targets).toEqual([`file ${dir}`]);
    expect(() => readdirSync(dir)).toThrow(/ENOENT/);
  });
});
