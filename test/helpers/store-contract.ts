/**
 * The credential-store contract, written once and run against every backend:
 * test/store/base-store.test.ts runs it for the embedded backends (one file
 * per credential, and the legacy single JSON file); test/store/pg-store.int.test.ts
 * against real PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, StoreStateError, UnknownCredentialError } from '../../src/errors';
import { FileStore, nextVersion, openStore, type ManagedCredentialStore } from '../../src/store';
import { entryFileName } from '../../src/store/dir-store';
import { SecretCipher } from '../../src/store/crypto';
import { TamperedRecordError, UnsignedRecordError } from '../../src/store/integrity';
import type { CredentialDefinition, CredentialStore, VersionMeta } from '../../src/store/types';

export const K1 = randomBytes(32);
export const K2 = randomBytes(32);
export const cipherK1 = new SecretCipher({ activeKeyId: 'k1', keys: { k1: K1 } });

/** One isolated backing storage (a temp file, a fresh database) per test. */
export interface StoreHarness {
  /** Opens another store instance on the same storage (default cipher: k1). */
  open(cipher?: SecretCipher): Promise<ManagedCredentialStore>;
  /** Everything the backend holds, as text (to look for plaintext secrets). */
  raw(): Promise<string>;
  /** Swaps the stored ciphertexts of two versions behind the store's back. */
  swapCiphertexts(id: string, a: number, b: number): Promise<void>;
  /** Edits a stored definition behind the store's back (no key): sets the given fields. */
  editDefinition(id: string, patch: Record<string, unknown>): Promise<void>;
  /** Edits a stored version's metadata behind the store's back (no key). */
  editVersion(id: string, version: number, patch: Record<string, unknown>): Promise<void>;
  /** Removes every signature (a store written before records were signed). */
  stripSignatures(): Promise<void>;
  /** Leaves a credential's versions without its definition (a legacy or hand-pruned store). */
  dropDefinitionKeepVersions(id: string): Promise<void>;
  cleanup(): Promise<void>;
}

const ID = 'orders-pg/app';
const def = (over: Partial<CredentialDefinition> = {}) =>
  ({
    id: ID,
    engine: 'postgres',
    host: '127.0.0.1',
    port: 5432,
    baseUsername: 'app',
    ...over,
  }) as CredentialDefinition;

/** A password nobody could guess, different each call. */
const pw = (tag: string) => `pw-${tag}-${randomBytes(12).toString('hex')}`;

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

type Labels = Record<number, string>;
async function labels(store: CredentialStore, id = ID): Promise<Labels> {
  const out: Labels = {};
  for (const v of await store.listVersions(id)) out[v.version] = v.label ? `${v.state}/${v.label}` : v.state;
  return out;
}

/** State + audit, for "calling twice changes nothing". */
async function fingerprint(store: CredentialStore) {
  return { versions: await store.listVersions(ID), audit: await store.listAudit() };
}

export function defineStoreSuite(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`credential store contract (${name})`, () => {
    let h: StoreHarness;
    let store: ManagedCredentialStore;

    beforeEach(async () => {
      h = await makeHarness();
      store = await h.open();
    });
    afterEach(async () => {
      await h?.cleanup();
    });

    /** Definition + imported v1; returns v1's password. */
    async function seeded(): Promise<string> {
      await store.putDefinition(def(), 'alice');
      const p1 = pw('v1');
      await store.importCurrent(ID, { username: 'app', password: p1 }, 'alice');
      return p1;
    }

    describe('definitions', () => {
      it('put, get, list, delete; defaults applied; idempotent put audits once', async () => {
        await store.putDefinition(def(), 'alice');
        const got = await store.getDefinition(ID);
        expect(got.strategy).toBe('auto');
        expect(got.policy.rotateEveryDays).toBe(90);
        await store.putDefinition(def(), 'alice'); // same: no-op
        await store.putDefinition(def({ id: 'a/first' }), 'alice');
        expect((await store.listDefinitions()).map((d) => d.id)).toEqual(['a/first', ID]);
        await store.putDefinition(def({ port: 6543 }), 'bob');
        expect((await store.getDefinition(ID)).port).toBe(6543);
        const audit = await store.listAudit(ID);
        expect(audit.map((a) => [a.action, a.actor])).toEqual([
          ['put-definition', 'alice'],
          ['put-definition', 'bob'],
        ]);
        expect(audit[0]!.details).toMatchObject({ created: true });
        expect(audit[1]!.details).toMatchObject({ created: false, changedKeys: ['port'] });

        await store.deleteDefinition(ID, 'carol');
        await store.deleteDefinition(ID, 'carol'); // idempotent
        await expect(store.getDefinition(ID)).rejects.toBeInstanceOf(UnknownCredentialError);
        expect((await store.listAudit(ID)).map((a) => a.action)).toEqual([
          'put-definition',
          'put-definition',
          'delete-definition',
        ]);
      });

      it('validates definitions with ConfigError naming the key path', async () => {
        const e = await rejection(store.putDefinition({ ...def(), port: 'x' as unknown as number }, 'alice'));
        expect(e).toBeInstanceOf(ConfigError);
        expect(e.message).toBe(`credential "${ID}": port: expected number, received string`);
        expect(await store.listDefinitions()).toEqual([]);
      });

      it('unknown credentials raise UnknownCredentialError', async () => {
        for (const p of [
          () => store.getDefinition('nope'),
          () => store.listVersions('nope'),
          () => store.getSecret('nope', 'CURRENT'),
          () => store.getVersion('nope', 1),
          () => store.importCurrent('nope', { username: 'u', password: 'p' }, 'a'),
          () => store.createPending('nope', 2, 'u', () => 'p', 'a'),
          () => store.promote('nope', 2, 'a'),
          () => store.demote('nope', 1, 'a'),
          () => store.markRevoked('nope', 1, 'a'),
        ]) {
          expect(await rejection(p()), p.toString()).toBeInstanceOf(UnknownCredentialError);
        }
        await store.discardPending('nope', 1, 'a'); // saga undo: tolerant
      });

      it('deleting a definition removes its versions', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await store.deleteDefinition(ID, 'alice');
        await store.putDefinition(def(), 'alice');
        expect(await store.listVersions(ID)).toEqual([]);
        expect((await store.listAudit(ID)).find((a) => a.action === 'delete-definition')!.details).toEqual({
          versionsDeleted: [1, 2],
        });
      });

      it('requires an actor', async () => {
        await expect(store.putDefinition(def(), '')).rejects.toBeInstanceOf(StoreStateError);
      });
    });

    describe('life cycle', () => {
      it('import -> createPending -> promote -> markRevoked, with labels, secrets and audit', async () => {
        await store.putDefinition(def(), 'operator');
        const p1 = pw('v1');
        const v1 = await store.importCurrent(ID, { username: 'app', password: p1 }, 'operator');
        expect(v1).toMatchObject({
          credentialId: ID,
          version: 1,
          username: 'app',
          state: 'current',
          label: 'CURRENT',
        });
        expect(await store.getSecret(ID, 'CURRENT')).toEqual({ version: 1, username: 'app', password: p1 });

        const p2 = pw('v2');
        const v2 = await store.createPending(ID, 2, 'app_b', () => p2, 'rotate/orders-pg/app');
        expect(v2).toMatchObject({ version: 2, username: 'app_b', state: 'pending', label: 'PENDING' });
        expect(await store.getSecret(ID, 'PENDING')).toEqual({ version: 2, username: 'app_b', password: p2 });
        expect(await store.getSecret(ID, 'CURRENT')).toMatchObject({ version: 1, password: p1 });
        expect(await labels(store)).toEqual({ 1: 'current/CURRENT', 2: 'pending/PENDING' });

        await store.promote(ID, 2, 'rotate/orders-pg/app');
        expect(await labels(store)).toEqual({ 1: 'previous/PREVIOUS', 2: 'current/CURRENT' });
        expect(await store.getSecret(ID, 'CURRENT')).toEqual({ version: 2, username: 'app_b', password: p2 });
        expect(await store.getSecret(ID, 'PREVIOUS')).toEqual({ version: 1, username: 'app', password: p1 });
        expect(await store.getSecret(ID, 1)).toMatchObject({ password: p1 });
        await expect(store.getSecret(ID, 'PENDING')).rejects.toThrow(StoreStateError);
        expect(await store.getVersion(ID, 'PENDING')).toBeUndefined();
        expect(await store.getVersion(ID, 'CURRENT')).toMatchObject({ version: 2 });

        await store.markRevoked(ID, 1, 'rotate/orders-pg/app');
        expect(await labels(store)).toEqual({ 1: 'revoked', 2: 'current/CURRENT' });
        await expect(store.getSecret(ID, 'PREVIOUS')).rejects.toThrow(/has no PREVIOUS version/);
        // a revoked version's secret stays readable by number (an idempotent revoke retry may need it)
        expect(await store.getSecret(ID, 1)).toMatchObject({ password: p1 });

        const audit = await store.listAudit(ID);
        expect(audit.map((a) => [a.action, a.version, a.actor])).toEqual([
          ['put-definition', undefined, 'operator'],
          ['import-current', 1, 'operator'],
          ['create-pending', 2, 'rotate/orders-pg/app'],
          ['promote', 2, 'rotate/orders-pg/app'],
          ['mark-revoked', 1, 'rotate/orders-pg/app'],
        ]);
        expect(audit[3]!.details).toEqual({ previous: 1 });
        for (const a of audit) {
          expect(a.credentialId).toBe(ID);
          expect(Number.isNaN(Date.parse(a.at))).toBe(false);
        }
        const text = JSON.stringify(await store.listAudit());
        expect(text).not.toContain(p1);
        expect(text).not.toContain(p2);
      });

      it('a second promote moves the PREVIOUS label to the newest previous version', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await store.promote(ID, 2, 'w');
        await store.createPending(ID, 3, 'app', () => pw('v3'), 'w');
        await store.promote(ID, 3, 'w');
        expect(await labels(store)).toEqual({ 1: 'previous', 2: 'previous/PREVIOUS', 3: 'current/CURRENT' });
        expect((await store.listAudit(ID)).at(-1)!.details).toEqual({ previous: 2, unlabelled: 1 });
        expect((await store.listVersions(ID)).map((v) => v.version)).toEqual([1, 2, 3]);
        expect(nextVersion(await store.listVersions(ID))).toBe(4);
      });

      it('saga undo before promote: discardPending deletes the pending version only', async () => {
        const p1 = await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await store.discardPending(ID, 2, 'w');
        expect(await labels(store)).toEqual({ 1: 'current/CURRENT' });
        await store.discardPending(ID, 2, 'w'); // absent: no error
        await store.discardPending(ID, 9, 'w');
        const e = await rejection(store.discardPending(ID, 1, 'w'));
        expect(e).toBeInstanceOf(StoreStateError);
        expect(e.message).toMatch(/version 1 is current, not pending; refusing to discard/);
        expect(await store.getSecret(ID, 'CURRENT')).toMatchObject({ version: 1, password: p1 });
        // the number is free again
        await store.createPending(ID, 2, 'app_b', () => pw('v2again'), 'w');
        expect(await labels(store)).toEqual({ 1: 'current/CURRENT', 2: 'pending/PENDING' });
        expect((await store.listAudit(ID)).map((a) => a.action)).toEqual([
          'put-definition',
          'import-current',
          'create-pending',
          'discard-pending',
          'create-pending',
        ]);
      });

      it('rollback after promote: demote, then discard the demoted version', async () => {
        const p1 = await seeded();
        const p2 = pw('v2');
        await store.createPending(ID, 2, 'app_b', () => p2, 'w');
        await store.promote(ID, 2, 'w');
        await store.demote(ID, 1, 'rollback');
        expect(await labels(store)).toEqual({ 1: 'current/CURRENT', 2: 'pending/PENDING' });
        expect(await store.getSecret(ID, 'CURRENT')).toEqual({ version: 1, username: 'app', password: p1 });
        expect(await store.getSecret(ID, 'PENDING')).toEqual({ version: 2, username: 'app_b', password: p2 });
        await store.discardPending(ID, 2, 'rollback');
        expect(await labels(store)).toEqual({ 1: 'current/CURRENT' });
        const audit = await store.listAudit(ID);
        expect(audit.find((a) => a.action === 'demote')).toMatchObject({
          version: 1,
          details: { demoted: 2 },
        });
      });

      it('rejects illegal transitions with StoreStateError', async () => {
        await seeded();
        const cases: Array<[() => Promise<unknown>, RegExp]> = [
          [
            () => store.importCurrent(ID, { username: 'app', password: 'other' }, 'a'),
            /already has a CURRENT version \(1\)/,
          ],
          [() => store.createPending(ID, 1, 'app', () => 'x', 'a'), /version 1 exists already as current/],
          [() => store.createPending(ID, 0, 'app', () => 'x', 'a'), /positive integer/],
          [() => store.createPending(ID, 2, '', () => 'x', 'a'), /username/],
          [() => store.createPending(ID, 2, 'app_b', () => '', 'a'), /password must be a non-empty string/],
          [() => store.promote(ID, 5, 'a'), /cannot promote version 5: no such version/],
          [() => store.demote(ID, 5, 'a'), /cannot demote to version 5: no such version/],
          [() => store.markRevoked(ID, 1, 'a'), /refusing to revoke version 1: it is CURRENT/],
          [() => store.markRevoked(ID, 7, 'a'), /cannot revoke version 7: no such version/],
          [() => store.getSecret(ID, 'PENDING'), /has no PENDING version/],
          [() => store.getSecret(ID, 4), /has no version 4/],
        ];
        for (const [p, re] of cases) {
          const e = await rejection(p());
          expect(e, String(re)).toBeInstanceOf(StoreStateError);
          expect(e.message).toMatch(re);
        }
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        const more: Array<[() => Promise<unknown>, RegExp]> = [
          [() => store.createPending(ID, 3, 'app', () => 'x', 'a'), /already has a PENDING version \(2\)/],
          [
            () => store.createPending(ID, 2, 'other', () => 'x', 'a'),
            /pending with username "app_b", not "other"/,
          ],
          [() => store.importCurrent(ID, { username: 'x', password: 'y' }, 'a'), /CURRENT/],
          [() => store.demote(ID, 2, 'a'), /cannot demote to version 2: it is pending/],
        ];
        for (const [p, re] of more) expect((await rejection(p())).message, String(re)).toMatch(re);
        await store.promote(ID, 2, 'w');
        await store.createPending(ID, 3, 'app', () => pw('v3'), 'w');
        // demoting while a new rotation is pending would make two PENDING versions
        expect((await rejection(store.demote(ID, 1, 'a'))).message).toMatch(/while version 3 is PENDING/);
        await store.discardPending(ID, 3, 'w');
        expect((await rejection(store.createPending(ID, 1, 'x', () => 'x', 'a'))).message).toMatch(
          /exists already as previous/,
        );
        await store.markRevoked(ID, 1, 'w');
        expect((await rejection(store.promote(ID, 1, 'a'))).message).toMatch(/it is revoked, not pending/);
        expect((await rejection(store.demote(ID, 1, 'a'))).message).toMatch(/it is revoked/);
        await expect(store.listVersions(ID)).resolves.toHaveLength(2);
      });

      it('imports into a credential whose versions are all revoked as the next number', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await store.promote(ID, 2, 'w');
        await store.markRevoked(ID, 1, 'w');
        // operator re-imports after the login was changed out of band: refused while v2 is CURRENT
        await expect(store.importCurrent(ID, { username: 'app', password: 'x' }, 'op')).rejects.toThrow(
          StoreStateError,
        );
      });
    });

    describe('idempotency (a repeated call changes nothing and records nothing)', () => {
      it('createPending does not regenerate the password', async () => {
        await seeded();
        let calls = 0;
        const gen = () => {
          calls++;
          return pw(`gen${calls}`);
        };
        const a = await store.createPending(ID, 2, 'app_b', gen, 'w');
        const before = await fingerprint(store);
        const secret = await store.getSecret(ID, 2);
        const b = await store.createPending(ID, 2, 'app_b', gen, 'w');
        expect(calls).toBe(1);
        expect(b).toEqual(a);
        expect(await store.getSecret(ID, 2)).toEqual(secret);
        expect(await fingerprint(store)).toEqual(before);
      });

      it('a failing generate() persists nothing', async () => {
        await seeded();
        const before = await fingerprint(store);
        await expect(
          store.createPending(
            ID,
            2,
            'app_b',
            () => {
              throw new Error('no entropy');
            },
            'w',
          ),
        ).rejects.toThrow('no entropy');
        expect(await fingerprint(store)).toEqual(before);
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w'); // and the store is not left locked
      });

      it('every mutation', async () => {
        const p1 = await seeded();
        const steps: Array<[string, () => Promise<unknown>]> = [
          ['putDefinition', () => store.putDefinition(def(), 'alice')],
          ['importCurrent', () => store.importCurrent(ID, { username: 'app', password: p1 }, 'alice')],
          ['createPending', () => store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w')],
          ['promote', () => store.promote(ID, 2, 'w')],
          ['demote', () => store.demote(ID, 1, 'w')],
          ['promote again', () => store.promote(ID, 2, 'w')],
          ['markRevoked', () => store.markRevoked(ID, 1, 'w')],
          ['createPending 3', () => store.createPending(ID, 3, 'app', () => pw('v3'), 'w')],
          ['discardPending', () => store.discardPending(ID, 3, 'w')],
        ];
        for (const [what, step] of steps) {
          await step();
          const once = await fingerprint(store);
          await step();
          expect(await fingerprint(store), what).toEqual(once);
        }
        expect(await labels(store)).toEqual({ 1: 'revoked', 2: 'current/CURRENT' });
        // importCurrent with the same secret after a rotation is an error, not a no-op
        await expect(store.importCurrent(ID, { username: 'app', password: p1 }, 'alice')).rejects.toThrow(
          StoreStateError,
        );
        await store.deleteDefinition(ID, 'alice');
        const once = await store.listAudit();
        await store.deleteDefinition(ID, 'alice');
        expect(await store.listAudit()).toEqual(once);
      });
    });

    describe('audit', () => {
      it('appends free records and redacts secret-looking detail keys', async () => {
        await seeded();
        await store.audit({
          actor: 'rotate/x',
          credentialId: ID,
          action: 'rotation-started',
          details: { reason: 'schedule', password: 'hunter2', nested: { apiToken: 'tok' }, list: [1, 'a'] },
        });
        await store.audit({ actor: 'fleet', credentialId: 'gone/already', action: 'skipped', version: 4 });
        const mine = await store.listAudit(ID);
        expect(mine.at(-1)).toMatchObject({
          actor: 'rotate/x',
          action: 'rotation-started',
          details: {
            reason: 'schedule',
            password: '[redacted]',
            nested: { apiToken: '[redacted]' },
            list: [1, 'a'],
          },
        });
        expect(await store.listAudit('gone/already')).toMatchObject([{ action: 'skipped', version: 4 }]);
        expect((await store.listAudit()).length).toBe(mine.length + 1);
        expect(JSON.stringify(await store.listAudit())).not.toMatch(/hunter2|"tok"/);
        await expect(store.audit({ actor: '', credentialId: ID, action: 'x' })).rejects.toThrow(
          StoreStateError,
        );
      });
    });

    describe('encryption at rest', () => {
      it('never stores a password in plaintext', async () => {
        const p1 = await seeded();
        const p2 = pw('v2');
        await store.createPending(ID, 2, 'app_b', () => p2, 'w');
        await store.promote(ID, 2, 'w');
        const raw = await h.raw();
        expect(raw).toContain('app_b'); // the dump does hold the data...
        expect(raw).toContain('enc1:k1:');
        expect(raw).not.toContain(p1); // ...but not the passwords
        expect(raw).not.toContain(p2);
        expect(raw).not.toContain(Buffer.from(p2).toString('base64'));
      });

      it('a store opened with the wrong key fails clearly', async () => {
        await seeded();
        const wrongSameId = await h.open(new SecretCipher({ activeKeyId: 'k1', keys: { k1: K2 } }));
        const e = await rejection(wrongSameId.getSecret(ID, 'CURRENT'));
        expect(e).toBeInstanceOf(TamperedRecordError);
        expect(e.message).toMatch(
          /credential "orders-pg\/app": its definition .*signature does not match.*different key under id "k1"/,
        );
        const otherId = await h.open(new SecretCipher({ activeKeyId: 'k2', keys: { k2: K2 } }));
        expect((await rejection(otherId.getSecret(ID, 1))).message).toMatch(
          /key id "k1", which is not in the keyring \(known: k2\)/,
        );
        // metadata cannot be trusted without the key either
        await expect(otherId.listVersions(ID)).rejects.toThrow(/key id "k1", which is not in the keyring/);
      });

      it('key rotation: old key still decrypts, new writes use the active key, re-encryption retires the old key', async () => {
        const p1 = await seeded();
        const both = await h.open(new SecretCipher({ activeKeyId: 'k2', keys: { k1: K1, k2: K2 } }));
        expect(await both.getSecret(ID, 'CURRENT')).toMatchObject({ password: p1 });
        const p2 = pw('v2');
        await both.createPending(ID, 2, 'app_b', () => p2, 'w');
        const raw = await h.raw();
        expect(raw).toMatch(/enc1:k1:/);
        expect(raw).toMatch(/enc1:k2:/);
        // the k1-only store cannot even trust the credential now (records signed with k2):
        // every worker needs the new key in its keyring before it becomes active anywhere
        await expect(store.getSecret(ID, 2)).rejects.toThrow(/key id "k2", which is not in the keyring/);
        await expect(store.getSecret(ID, 1)).rejects.toThrow(/key id "k2", which is not in the keyring/);

        expect(await both.reencryptSecrets('ops')).toBe(1);
        expect(await both.reencryptSecrets('ops')).toBe(0); // idempotent
        expect(await h.raw()).not.toMatch(/enc1:k1:/);
        const k2only = await h.open(new SecretCipher({ activeKeyId: 'k2', keys: { k2: K2 } }));
        expect(await k2only.getSecret(ID, 1)).toMatchObject({ password: p1 });
        expect(await k2only.getSecret(ID, 2)).toMatchObject({ password: p2 });
        const re = (await store.listAudit(ID)).filter((a) => a.action === 'reencrypt-secrets');
        expect(re).toEqual([
          expect.objectContaining({
            actor: 'ops',
            details: { versions: [1], fromKeyIds: ['k1'], toKeyId: 'k2', resigned: true },
          }),
        ]);
      });

      it('a ciphertext swapped between versions fails to decrypt', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await h.swapCiphertexts(ID, 1, 2);
        for (const v of [1, 2]) {
          const e = await rejection(store.getSecret(ID, v));
          // caught by the record signature before decryption is even tried
          expect(e).toBeInstanceOf(TamperedRecordError);
          expect(e.message).toContain(`version 1`);
        }
      });
    });

    describe('record signatures (definitions and version metadata)', () => {
      it('a definition edited without the key is refused on every read and by the rotation steps', async () => {
        await seeded();
        await h.editDefinition(ID, { host: 'attacker.example', port: 6380 });
        for (const read of [
          () => store.getDefinition(ID),
          () => store.listDefinitions(),
          () => store.getSecret(ID, 'CURRENT'),
          () => store.getVersion(ID, 'CURRENT'),
          () => store.createPending(ID, 2, 'app_b', () => pw('x'), 'w'),
        ]) {
          const e = await rejection(read());
          expect(e).toBeInstanceOf(TamperedRecordError);
          expect(e.message).toMatch(
            /credential "orders-pg\/app": its definition was changed without the store key/,
          );
          expect(e.message).toContain('db-rotator credentials add');
        }
      });

      it('an adminCredentialId slipped into a definition is refused', async () => {
        await seeded();
        await h.editDefinition(ID, { adminCredentialId: 'prod/admin' });
        await expect(store.getDefinition(ID)).rejects.toThrow(TamperedRecordError);
      });

      it('version metadata edited without the key (label, username) is refused', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await h.editVersion(ID, 2, { username: 'postgres' });
        const e = await rejection(store.getSecret(ID, 'PENDING'));
        expect(e).toBeInstanceOf(TamperedRecordError);
        expect(e.message).toMatch(
          /credential "orders-pg\/app" version 2: its metadata was changed without the store key/,
        );
        await expect(store.promote(ID, 2, 'w')).rejects.toThrow(TamperedRecordError);
      });

      it('a key holder legitimately changes a definition with putDefinition (credentials add), which re-signs it', async () => {
        await seeded();
        await h.editDefinition(ID, { host: 'attacker.example' });
        await store.putDefinition(def({ host: 'db2.internal' }), 'op');
        expect((await store.getDefinition(ID)).host).toBe('db2.internal');
        // same content as the tampered one, re-put by a key holder: re-signed, audited
        await h.editDefinition(ID, { port: 5433 });
        await store.putDefinition(def({ host: 'db2.internal', port: 5433 }), 'op');
        expect((await store.getDefinition(ID)).port).toBe(5433);
        expect((await store.listAudit(ID)).at(-1)).toMatchObject({ action: 'put-definition', actor: 'op' });
      });

      it('a legacy (unsigned) store is refused with the command that signs it; signUnsigned signs it and is audited', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await h.stripSignatures();
        const e = await rejection(store.getDefinition(ID));
        expect(e).toBeInstanceOf(UnsignedRecordError);
        expect(e.message).toContain('db-rotator store sign');
        await expect(store.listVersions(ID)).rejects.toThrow(UnsignedRecordError);
        expect(await store.signUnsigned('ops')).toBe(3);
        expect(await store.signUnsigned('ops')).toBe(0);
        expect((await store.getDefinition(ID)).host).toBe('127.0.0.1');
        expect(await store.listVersions(ID)).toHaveLength(2);
        expect((await store.listAudit(ID)).filter((a) => a.action === 'sign-records')).toEqual([
          expect.objectContaining({ actor: 'ops', details: { definition: true, versions: [1, 2] } }),
        ]);
      });

      it('signUnsigned never blesses a record with a wrong signature', async () => {
        await seeded();
        await h.editDefinition(ID, { host: 'attacker.example' });
        await expect(store.signUnsigned('ops')).rejects.toThrow(TamperedRecordError);
        await expect(store.getDefinition(ID)).rejects.toThrow(TamperedRecordError);
      });
    });

    describe('store hygiene', () => {
      it('purges secrets of versions revoked longer ago than the retention (default 7 days), audited', async () => {
        const p1 = await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await store.promote(ID, 2, 'w');
        await store.markRevoked(ID, 1, 'w');
        expect(await store.purgeRevokedSecrets('ops')).toBe(0); // revoked just now, default 7 d
        expect(await store.getSecret(ID, 1)).toMatchObject({ password: p1 });
        expect(await store.purgeRevokedSecrets('ops', 0)).toBe(1);
        expect(await store.purgeRevokedSecrets('ops', 0)).toBe(0); // idempotent
        await expect(store.getSecret(ID, 1)).rejects.toThrow(/version 1: its secret was purged/);
        expect(await h.raw()).not.toMatch(new RegExp(`"secret":\\s*"enc1:[^"]*"[^}]*"version":\\s*1\\b`));
        expect(await labels(store)).toEqual({ 1: 'revoked', 2: 'current/CURRENT' });
        expect((await store.listAudit(ID)).filter((a) => a.action === 'purge-revoked-secrets')).toEqual([
          expect.objectContaining({ actor: 'ops', details: { versions: [1], retentionMs: 0 } }),
        ]);
        // the CURRENT and a PREVIOUS version are never purged
        await store.createPending(ID, 3, 'app', () => pw('v3'), 'w');
        await store.promote(ID, 3, 'w');
        expect(await store.purgeRevokedSecrets('ops', 0)).toBe(0);
        expect((await store.getSecret(ID, 2)).username).toBe('app_b');
        // a later key rotation skips purged secrets
        const both = await h.open(new SecretCipher({ activeKeyId: 'k2', keys: { k1: K1, k2: K2 } }));
        expect(await both.reencryptSecrets('ops')).toBe(2);
      });

      it('store key rotation re-encrypts every secret, also of a credential whose definition is gone, and re-signs every record', async () => {
        await seeded();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await store.putDefinition(def({ id: 'other/x' }), 'op');
        const px = pw('x');
        await store.importCurrent('other/x', { username: 'x', password: px }, 'op');
        await h.dropDefinitionKeepVersions('other/x');
        const both = await h.open(new SecretCipher({ activeKeyId: 'k2', keys: { k1: K1, k2: K2 } }));
        expect(await both.reencryptSecrets('ops')).toBe(3);
        const raw = await h.raw();
        expect(raw).not.toMatch(/enc1:k1:/);
        expect(raw).not.toMatch(/mac1:k1:/);
        const k2only = await h.open(new SecretCipher({ activeKeyId: 'k2', keys: { k2: K2 } }));
        expect((await k2only.getSecret(ID, 2)).username).toBe('app_b');
        expect(await k2only.listDefinitions()).toHaveLength(1);
        expect((await both.listAudit('other/x')).at(-1)).toMatchObject({
          action: 'reencrypt-secrets',
          actor: 'ops',
          details: { versions: [1], fromKeyIds: ['k1'], toKeyId: 'k2' },
        });
      });
    });

    describe('concurrency', () => {
      it('two store instances: concurrent createPending of different versions leaves exactly one pending', async () => {
        await seeded();
        const other = await h.open();
        const attempts = [2, 3, 4, 5, 6, 7].map((v, i) =>
          (i % 2 ? other : store).createPending(ID, v, `app_${v}`, () => pw(`v${v}`), `w${v}`),
        );
        const results = await Promise.allSettled(attempts);
        const ok = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<VersionMeta>[];
        const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
        expect(ok).toHaveLength(1);
        for (const f of failed) expect(f.reason).toBeInstanceOf(StoreStateError);
        const pending = (await store.listVersions(ID)).filter((v) => v.state === 'pending');
        expect(pending).toEqual([ok[0]!.value]);
        expect((await other.listAudit(ID)).filter((a) => a.action === 'create-pending')).toHaveLength(1);
        // the winner's secret is readable from both instances
        const s = await other.getSecret(ID, 'PENDING');
        expect(await store.getSecret(ID, 'PENDING')).toEqual(s);
      });

      it('two store instances: concurrent promote of the same version is applied once', async () => {
        await seeded();
        const other = await h.open();
        await store.createPending(ID, 2, 'app_b', () => pw('v2'), 'w');
        await Promise.all([
          store.promote(ID, 2, 'w1'),
          other.promote(ID, 2, 'w2'),
          store.promote(ID, 2, 'w3'),
        ]);
        expect(await labels(other)).toEqual({ 1: 'previous/PREVIOUS', 2: 'current/CURRENT' });
        expect((await store.listAudit(ID)).filter((a) => a.action === 'promote')).toHaveLength(1);
      });

      it('many concurrent audit appends lose nothing', async () => {
        await seeded();
        const other = await h.open();
        const before = (await store.listAudit()).length;
        await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            (i % 2 ? other : store).audit({ actor: `a${i}`, credentialId: ID, action: 'ping', version: i }),
          ),
        );
        const audit = await store.listAudit();
        expect(audit.length).toBe(before + 30);
        expect(new Set(audit.filter((a) => a.action === 'ping').map((a) => a.version)).size).toBe(30);
      });
    });

    it('rejects use after close', async () => {
      const s = await h.open();
      await s.close();
      await s.close(); // idempotent
      await expect(s.listDefinitions()).rejects.toThrow(/closed/);
    });
  });
}

// ---------------------------------------------------------------------------
// file backend

// Hand edits of a stored file, as with a text editor.
type RawVersion = Record<string, unknown> & { version: number };
type RawCredential = { definition?: Record<string, unknown>; definitionTag?: string; versions: RawVersion[] };

async function editJson<T>(file: string, change: (data: T) => void): Promise<void> {
  const data = JSON.parse(await fs.readFile(file, 'utf8')) as T;
  change(data);
  await fs.writeFile(file, JSON.stringify(data));
}

const versionOf = (c: RawCredential, n: number) => c.versions.find((v) => v.version === n)!;

function stripTags(c: RawCredential): void {
  delete c.definitionTag;
  for (const v of c.versions) delete v.tag;
}

/** The harness's hand edits of one stored credential, given how to edit it (`edit`). */
function handEdits(
  edit: (id: string, change: (c: RawCredential) => void) => Promise<void>,
): Pick<StoreHarness, 'swapCiphertexts' | 'editDefinition' | 'editVersion' | 'dropDefinitionKeepVersions'> {
  return {
    swapCiphertexts: (id, a, b) =>
      edit(id, (c) => {
        const [va, vb] = [versionOf(c, a), versionOf(c, b)];
        [va.secret, vb.secret] = [vb.secret, va.secret];
      }),
    editDefinition: (id, patch) => edit(id, (c) => Object.assign(c.definition!, patch)),
    editVersion: (id, n, patch) => edit(id, (c) => Object.assign(versionOf(c, n), patch)),
    dropDefinitionKeepVersions: (id) =>
      edit(id, (c) => {
        delete c.definition;
        delete c.definitionTag;
      }),
  };
}

/** `open` with the test cipher by default; cleanup closes every store it opened and removes `dir`. */
function opening(dir: string, open: (cipher: SecretCipher) => Promise<ManagedCredentialStore>) {
  const opened: ManagedCredentialStore[] = [];
  return {
    async open(cipher = cipherK1) {
      const s = await open(cipher);
      opened.push(s);
      return s;
    },
    async cleanup() {
      await Promise.all(opened.map((s) => s.close()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** The legacy single-JSON-file backend (format 1). */
export async function fileHarness(): Promise<StoreHarness> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'rotator-store-'));
  const path = join(dir, 'sub', 'store.json');
  const edit = (id: string, change: (c: RawCredential) => void) =>
    editJson<{ credentials: Array<RawCredential & { id: string }> }>(path, (data) =>
      change(data.credentials.find((c) => c.id === id)!),
    );
  return {
    ...opening(dir, (cipher) => FileStore.open(path, cipher)),
    raw: () => fs.readFile(path, 'utf8'),
    ...handEdits(edit),
    stripSignatures: () =>
      editJson<{ credentials: RawCredential[] }>(path, (data) => data.credentials.forEach(stripTags)),
  };
}

// ---------------------------------------------------------------------------
// directory backend (format 2, the default)

/** Where the directory backend keeps credential `id` (its layout, dir-store.ts). */
export function dirEntryPath(root: string, id: string): string {
  return join(root, 'credentials', entryFileName(id));
}

/** The default embedded backend: a directory with one file per credential. */
export async function dirHarness(): Promise<StoreHarness & { root: string }> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'rotator-store-'));
  const root = join(dir, 'sub', 'store');
  const edit = (id: string, change: (c: RawCredential) => void) => editJson(dirEntryPath(root, id), change);
  return {
    root,
    ...opening(dir, (cipher) => openStore({ backend: 'file', path: root }, cipher)),
    async raw() {
      const names = await fs.readdir(join(root, 'credentials'));
      const texts = await Promise.all(names.map((n) => fs.readFile(join(root, 'credentials', n), 'utf8')));
      return texts.join('\n');
    },
    ...handEdits(edit),
    async stripSignatures() {
      for (const n of await fs.readdir(join(root, 'credentials'))) {
        await editJson(join(root, 'credentials', n), stripTags);
      }
    },
  };
}
