import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { escapeIdentifier } from 'pg';
import { FileSource } from '../../src/consumer/file-source';
import { RotatingPgPool } from '../../src/consumer/pg-pool';
import type { ConsumerCredential } from '../../src/consumer/types';
import { freshPg, type PgNamespace } from '../helpers/pg';
import { services } from '../helpers/services';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writes a secret volume the way the kubelet's AtomicWriter does: the files
 * live in a timestamped directory, `..data` points at it, and the visible
 * file is a symlink through `..data`. An update writes a new directory,
 * points `..data_tmp` at it and renames `..data_tmp` over `..data` (atomic).
 */
class SecretVolume {
  private n = 0;
  private current?: string;
  constructor(readonly dir: string) {}

  get file(): string {
    return join(this.dir, 'credential.json');
  }

  publish(credential: ConsumerCredential): void {
    const ts = `..2025_01_01_00_00_0${++this.n}.${process.pid}`;
    mkdirSync(join(this.dir, ts));
    writeFileSync(join(this.dir, ts, 'credential.json'), JSON.stringify(credential));
    symlinkSync(ts, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.n === 1) symlinkSync(join('..data', 'credential.json'), this.file);
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true });
    this.current = ts;
  }
}

describe('FileSource on a Kubernetes-style secret volume (real fs, `..data` symlink swap)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'secret-volume-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('picks up an atomically swapped secret through the watch (not the poll), once', async () => {
    const vol = new SecretVolume(dir);
    vol.publish({ version: 1, username: 'app', password: 'pw-1' });
    const src = new FileSource({ path: vol.file, debounceMs: 50, pollMs: 0 });
    const seen: number[] = [];
    src.subscribe((c) => seen.push(c.version));
    expect(await src.current()).toEqual({ version: 1, username: 'app', password: 'pw-1' });

    vol.publish({ version: 2, username: 'app_b', password: 'pw-2' });
    for (let i = 0; i < 40 && src.cached()?.version !== 2; i++) await sleep(25);
    expect(src.cached()).toEqual({ version: 2, username: 'app_b', password: 'pw-2' });
    await sleep(150);
    expect(seen).toEqual([1, 2]);
    await src.close();
  });

  describe('with a RotatingPgPool on real PostgreSQL', () => {
    let pg: PgNamespace;
    beforeEach(async () => {
      pg = await freshPg();
    });
    afterEach(async () => {
      await pg.cleanup();
    });

    it('the pool moves to the new login when the mounted secret changes; a held connection keeps working', async () => {
      const a = await pg.createLogin('a', 'pw-a-123');
      const b = await pg.createLogin('b', 'pw-b-123');
      for (const r of [a, b])
        await pg.admin.query(
          `GRANT CONNECT ON DATABASE ${escapeIdentifier(pg.database)} TO ${escapeIdentifier(r)}`,
        );
      const vol = new SecretVolume(dir);
      vol.publish({ version: 1, username: a, password: 'pw-a-123' });
      const source = new FileSource({ path: vol.file, debounceMs: 50, pollMs: 0 });
      const pool = await RotatingPgPool.create({
        source,
        registry: false,
        pool: { host: services.postgres.host, port: services.postgres.port, database: pg.database, max: 3 },
      });
      const who = async () => (await pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
      expect(await who()).toBe(a);
      const held = await pool.connect();

      vol.publish({ version: 2, username: b, password: 'pw-b-123' });
      for (let i = 0; i < 40 && pool.version !== 2; i++) await sleep(25);
      expect(pool.version).toBe(2);
      expect(await who()).toBe(b);
      // The connection checked out before the swap still runs as the old login; its pool stays open until release.
      expect((await held.query('SELECT current_user AS u')).rows[0].u).toBe(a);
      expect(pool.core.inFlight()).toEqual([
        { version: 2, inFlight: 0, state: 'active' },
        { version: 1, inFlight: 1, state: 'draining' },
      ]);
      held.release();
      for (let i = 0; i < 40 && pool.core.inFlight().length > 1; i++) await sleep(25);
      expect(pool.core.inFlight()).toHaveLength(1);
      const oldSessions = async () =>
        (await pg.admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [a]))
          .rows[0].n;
      for (let i = 0; i < 40 && (await oldSessions()) > 0; i++) await sleep(25);
      expect(await oldSessions()).toBe(0); // the old pool ended its connections
      await pool.end();
      await source.close();
    });
  });
});
