/**
 * Store hygiene through the CLI (issue 16, items 1 and 6): a group/world
 * accessible store is refused, `credentials add` never echoes file content,
 * `store sign`, `store rotate-key` and `store purge-revoked` do their job and
 * are audited.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT } from '../../../src/client';
import { runCli } from '../../helpers/cli';
import { generateKeyBase64, openStore, parseKeyring, SecretCipher } from '../../../src/store';

let dir: string;
let env: Record<string, string>;
const k1 = `k1:${generateKeyBase64()}`;
const k2 = `k2:${generateKeyBase64()}`;

const cli = (extraEnv: Record<string, string>, ...args: string[]) => runCli(args, { ...env, ...extraEnv });

const def = { id: 'orders/app', engine: 'postgres', host: 'db.internal', port: 5432, baseUsername: 'app' };

/** The file of the one credential these tests store (src/store/dir-store.ts layout). */
const entry = (id = 'orders%2Fapp') => join(env.ROTATOR_STORE_PATH!, 'credentials', `${id}.json`);

beforeEach(async () => {
  dir = await fs.mkdtemp(join(tmpdir(), 'rotator-hygiene-'));
  env = {
    ROTATOR_STORE_BACKEND: 'file',
    ROTATOR_STORE_PATH: join(dir, 'state', 'store'),
    ROTATOR_STORE_KEYS: k1,
    ROTATOR_CODEC_KEYS: `c1:${generateKeyBase64()}`,
    ROTATOR_ACTOR: 'alice',
  };
});
afterEach(async () => {
  await fs.chmod(dir, 0o700).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
});

describe('file store permissions', () => {
  it('refuses a store directory accessible by group or others, naming the fix', async () => {
    await fs.mkdir(join(dir, 'state'), { mode: 0o700 });
    await fs.chmod(join(dir, 'state'), 0o750);
    const r = await cli({}, 'credentials', 'list');
    expect(r.code).toBe(EXIT.error);
    expect(r.err).toMatch(
      /credential store directory .*state is accessible by group or others \(mode 0750\); refusing to use it\. Make it private: chmod 700/,
    );
  });

  it('refuses a store file readable by others', async () => {
    await fs.writeFile(join(dir, 'file.json'), JSON.stringify(def));
    expect((await cli({}, 'credentials', 'add', join(dir, 'file.json'))).code).toBe(EXIT.ok);
    await fs.chmod(entry(), 0o644);
    const r = await cli({}, 'credentials', 'list');
    expect(r.err).toMatch(
      /credential store file .*orders%2Fapp\.json is accessible by group or others \(mode 0644\).*chmod 600/,
    );
  });

  it('creates the directories 0700 and the credential file 0600', async () => {
    await fs.writeFile(join(dir, 'file.json'), JSON.stringify(def));
    expect((await cli({}, 'credentials', 'add', join(dir, 'file.json'))).code).toBe(EXIT.ok);
    expect((await fs.stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    expect((await fs.stat(env.ROTATOR_STORE_PATH!)).mode & 0o777).toBe(0o700);
    expect((await fs.stat(entry())).mode & 0o777).toBe(0o600);
  });
});

describe('credentials add', () => {
  it('never echoes file content in a parse error', async () => {
    const file = join(dir, 'bad.json');
    const secret = 'Sup3r-s3cret-pasted-here';
    await fs.writeFile(file, `{\n  "id": "orders/app",\n  "password": ${secret}\n}\n`);
    const r = await cli({}, 'credentials', 'add', file);
    expect(r.code).toBe(EXIT.error);
    expect(r.err).toMatch(/bad\.json is not valid JSON/);
    expect(r.err + r.out).not.toContain(secret);
    expect(r.err + r.out).not.toContain('Sup3r');
  });
});

describe('store maintenance commands', () => {
  async function seed() {
    await fs.writeFile(join(dir, 'def.json'), JSON.stringify(def));
    expect((await cli({}, 'credentials', 'add', join(dir, 'def.json'))).code).toBe(EXIT.ok);
    const store = await openStore(
      { backend: 'file', path: env.ROTATOR_STORE_PATH! },
      new SecretCipher(parseKeyring(k1)),
    );
    await store.importCurrent('orders/app', { username: 'app', password: 'first-password-123' }, 'alice');
    await store.createPending('orders/app', 2, 'app', () => 'second-password-456', 'alice');
    await store.promote('orders/app', 2, 'alice');
    await store.markRevoked('orders/app', 1, 'alice');
    await store.close();
  }

  it('store sign signs a legacy store after it was refused with that command in the message', async () => {
    await seed();
    const c = JSON.parse(await fs.readFile(entry(), 'utf8'));
    delete c.definitionTag;
    for (const v of c.versions) delete v.tag;
    await fs.writeFile(entry(), JSON.stringify(c), { mode: 0o600 });
    let r = await cli({}, 'credentials', 'show', 'orders/app');
    expect(r.err).toMatch(
      /is not signed with the store key.*db-rotator store sign <credential> \(or --all\)/,
    );
    expect((await cli({}, 'store', 'sign')).code).toBe(EXIT.usage);
    r = await cli({}, 'store', 'sign', '--all');
    expect(r.out).toBe('signed 3 record(s)');
    expect((await cli({}, 'credentials', 'show', 'orders/app')).code).toBe(EXIT.ok);
  });

  it('store rotate-key re-encrypts and re-signs everything with the new key and audits it; the old key can go', async () => {
    await seed();
    const r = await cli({ ROTATOR_STORE_KEYS: `${k2},${k1}` }, 'store', 'rotate-key');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toMatch(/re-encrypted 2 secret\(s\).*key "k2"[\s\S]*remove it from ROTATOR_STORE_KEYS/);
    const raw = await fs.readFile(entry(), 'utf8');
    expect(raw).not.toMatch(/k1:/);
    // Store-wide records have a file of their own (credential id "(store)").
    const storeWide = await fs.readFile(entry('%28store%29'), 'utf8');
    const audit = JSON.parse(storeWide).audit as Array<{ action: string; actor: string; details?: unknown }>;
    expect(audit.filter((a) => a.action === 'rotate-store-key')).toEqual([
      expect.objectContaining({
        actor: 'alice',
        details: { toKeyId: 'k2', reencrypted: 2, retiredKeyIds: ['k1'] },
      }),
    ]);
    expect((await cli({ ROTATOR_STORE_KEYS: k2 }, 'credentials', 'show', 'orders/app')).code).toBe(EXIT.ok);
  });

  it('store purge-revoked keeps revoked secrets for the retention, then deletes them (audited)', async () => {
    await seed();
    expect((await cli({}, 'store', 'purge-revoked')).out).toBe('purged 0 revoked secret(s)');
    expect((await cli({}, 'store', 'purge-revoked', '--retention', '0')).out).toBe(
      'purged 1 revoked secret(s)',
    );
    const raw = await fs.readFile(entry(), 'utf8');
    const v1 = JSON.parse(raw).versions[0];
    expect(v1).toMatchObject({ version: 1, state: 'revoked', secret: 'purged' });
  });
});
