/**
 * scripts/services.sh, the dispatcher over one script per service in
 * scripts/services/ (issue 12, item 7): every service it lists defines the
 * functions the dispatcher calls. It keeps to its own state directory
 * (issue 16, item 6): it never changes the permissions of the user's home (it
 * used to chmod /root to 701 so the postgres user could reach a state dir
 * inside it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/services';

const script = join(REPO_ROOT, 'scripts', 'services.sh');
let home: string;

function run(snippet: string, env: Record<string, string>): { code: number; out: string } {
  try {
    const out = execFileSync('bash', ['-c', `source "${script}"; ${snippet}`], {
      env: { PATH: process.env.PATH ?? '', SERVICES_SH_SOURCED: '1', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, out };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: `${x.stdout}${x.stderr}` };
  }
}

afterEach(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('services.sh dispatcher', () => {
  it('every service it starts defines ready/start/stop/version/addr, once each', () => {
    const r = run(
      'for s in "${SERVICES[@]}"; do for f in ready start stop version addr; do svc_has "$s" "$f" || echo "missing $s $f"; done; done; echo "${SERVICES[*]}"; echo "${APT_PACKAGES[*]}"',
      { HOME: process.env.HOME ?? '/root' },
    );
    expect(r.code).toBe(0);
    const [names, apt] = r.out.trim().split('\n').slice(-2);
    expect(r.out).not.toMatch(/missing/);
    expect(names!.split(' ')).toEqual([
      'postgres',
      'mariadb',
      'redis',
      'ferretdb',
      'temporal',
      'pgbouncer',
      'moto',
      'postgres-replica',
      'mariadb-replica',
    ]);
    const pkgs = apt!.split(' ');
    expect(new Set(pkgs).size).toBe(pkgs.length); // each script sourced once
    expect(pkgs).toEqual(
      expect.arrayContaining(['postgresql-15', 'mariadb-server', 'redis-server', 'pgbouncer', 'nginx-light']),
    );
  });

  it('refuses an unknown command with the usage line', () => {
    const out = execFileSync('bash', ['-c', `bash "${script}" frobnicate 2>&1; echo "rc=$?"`], {
      encoding: 'utf8',
    });
    expect(out).toContain('usage:');
    expect(out).toContain('install|up|down|status|env');
    expect(out.trim().endsWith('rc=2')).toBe(true);
  });
});

describe('services.sh state directory', () => {
  it('defaults to a directory of its own outside the home', () => {
    home = mkdtempSync(join(tmpdir(), 'home-'));
    const { out } = run('echo "$STATE"', { HOME: home });
    expect(out.trim()).toBe(
      process.getuid?.() === 0 ? '/var/lib/db-rotator-dev' : join(home, '.local', 'state', 'db-rotator-dev'),
    );
    // an existing state of an older version is kept
    mkdirSync(join(home, '.local', 'share', 'db-rotator', 'data'), { recursive: true });
    expect(run('echo "$STATE"', { HOME: home }).out.trim()).toBe(join(home, '.local', 'share', 'db-rotator'));
  });

  it.runIf(process.getuid?.() === 0)(
    'never changes the permissions of a private home to let postgres in',
    () => {
      home = mkdtempSync(join(tmpdir(), 'home-')); // mode 0700, like /root
      const state = join(home, 'state');
      mkdirSync(join(state, 'data', 'postgres'), { recursive: true });
      const r = run(`pg_grant_traverse "${join(state, 'data', 'postgres')}"`, {
        HOME: home,
        ROTATOR_STATE_DIR: state,
      });
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(
        /cannot enter .*outside the state directory; this script does not change permissions there/,
      );
      expect(statSync(home).mode & 0o777).toBe(0o700);
    },
  );
});
