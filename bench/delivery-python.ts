/**
 * Any language, measured: the Python workload (examples/python/workload.py,
 * psycopg, 4 processes × 4 connections) reads a file target and runs through
 *   (a) the naive rotation (new user, publish to the file, sleep 5 s,
 *       terminate + drop the old user), and
 *   (b) our rotation workflow delivering to the same kind of file target,
 * in the same run, both with applications that re-read the file every
 * --refresh seconds (default 10, a random phase per process) and do not
 * re-read early on a failed login (most applications). Writes
 * reports/bench-delivery-python.json.
 *
 *   npx tsx bench/delivery-python.ts [--refresh 10] [--seconds 25]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { escapeIdentifier, escapeLiteral } from 'pg';
import { publishCurrentVersion } from '../src/activities/delivery';
import { generatePassword } from '../src/engines/password';
import { services } from '../test/helpers/services';
import { createPgFixture, type PgAdmin } from './lib/pg-fixture';
import { createBenchRig, type BenchRig } from './lib/rotation-rig';

interface Result {
  arm: string;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  versions: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startWorkload(dir: string, refresh: number) {
  const child = spawn(
    'python3',
    [
      join(__dirname, '..', 'examples', 'python', 'workload.py'),
      dir,
      '--refresh',
      String(refresh),
      '--no-auth-retry',
      '--sql',
      'SELECT payload FROM zd.items WHERE id = 1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out.trim().split('\n').pop()!) as Omit<Result, 'arm'>;
    },
  };
}

async function arm(
  name: 'naive' | 'ours',
  rig: BenchRig,
  admin: PgAdmin,
  opts: { refresh: number; seconds: number },
): Promise<Result> {
  const fixture = await createPgFixture(admin, 'py');
  const dir = mkdtempSync(join(tmpdir(), `bench-py-${name}-`));
  const credentialId = `bench-py/${name}/${Date.now().toString(36)}`;
  const adminId = `${credentialId}-admin`;
  const where = {
    engine: 'postgres' as const,
    host: admin.host,
    port: admin.port,
    database: fixture.database,
  };
  let stopOnError: (() => Promise<void>) | undefined;
  try {
    await rig.addCredential({ id: adminId, ...where }, { username: admin.user, password: admin.password });
    await rig.addCredential(
      {
        id: credentialId,
        ...where,
        adminCredentialId: adminId,
        strategy: 'dual-user',
        targets: [{ type: 'file', dir: join(dir, 'app') }] as never,
      },
      { username: fixture.login, password: fixture.password },
    );
    await publishCurrentVersion(rig.store, credentialId, process.env);
    const workload = startWorkload(join(dir, 'app'), opts.refresh);
    stopOnError = () => workload.stop().then(() => undefined);
    await sleep(3_000);
    if (name === 'ours') {
      const h = await rig.start({ credentialId, graceMs: (opts.refresh + 5) * 1000, drainTimeoutMs: 5_000 });
      console.log(`[ours] outcome ${(await h.result()).outcome}`);
    } else {
      // The seed sketches' rotation, publishing to the same file target.
      const cur = await rig.store.getSecret(credentialId, 'CURRENT');
      const newUser = `${cur.username}_b`;
      const password = generatePassword();
      await fixture.admin.query(
        `CREATE ROLE ${escapeIdentifier(newUser)} LOGIN PASSWORD ${escapeLiteral(password)}`,
      );
      await fixture.grantApp(newUser);
      await rig.store.createPending(credentialId, cur.version + 1, newUser, () => password, 'naive');
      await rig.store.promote(credentialId, cur.version + 1, 'naive');
      await publishCurrentVersion(rig.store, credentialId, process.env);
      await sleep(5_000);
      await fixture.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [
        cur.username,
      ]);
      await fixture.admin.query(`DROP OWNED BY ${escapeIdentifier(cur.username)}`);
      await fixture.admin.query(`DROP ROLE ${escapeIdentifier(cur.username)}`);
      await fixture.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [
        cur.username,
      ]);
    }
    await sleep(opts.seconds * 1000);
    stopOnError = undefined;
    const r = await workload.stop();
    console.log(`[${name}] ${r.ok} ok, ${r.failed} failed`, r.errors);
    return { arm: name, ...r };
  } finally {
    await stopOnError?.().catch(() => undefined);
    await fixture.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { refresh: { type: 'string', default: '10' }, seconds: { type: 'string', default: '12' } },
  });
  const admin: PgAdmin = {
    host: services.postgres.host,
    port: services.postgres.port,
    user: services.postgres.user,
    password: services.postgres.password,
  };
  const opts = { refresh: Number(values.refresh), seconds: Number(values.seconds) };
  const rig = await createBenchRig(services.temporalAddress);
  try {
    const results = [await arm('naive', rig, admin, opts), await arm('ours', rig, admin, opts)];
    const out = join(__dirname, '..', 'reports', 'bench-delivery-python.json');
    mkdirSync(join(__dirname, '..', 'reports'), { recursive: true });
    writeFileSync(out, JSON.stringify({ refreshSeconds: opts.refresh, results }, null, 2));
    console.log(`\nwritten ${out}`);
  } finally {
    await rig.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
