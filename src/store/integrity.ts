/**
 * Authentication of definitions and version metadata with the store key.
 *
 * The secret of a version is AEAD-sealed to its credential and version, but
 * where a secret is SENT is decided by the definition (engine, host, port,
 * adminCredentialId) and which secret is CURRENT by the version metadata.
 * Both are signed here with an HMAC-SHA256 key derived from the store
 * keyring (crypto.ts, HKDF; format `mac1:<keyId>:<tag>`), so anyone who can
 * write the store file or tables but does not hold the keyring cannot point
 * an admin password at a host of their choosing, relabel versions or swap
 * usernames: the store refuses the record with a clear error.
 *
 * Signed data is a canonical JSON (sorted keys) of:
 *   definition: ["definition", <definition>]
 *   version:    ["version", credentialId, version, username, state, label|null,
 *                createdAt, updatedAt, <secret ciphertext>]
 *
 * What it does not stop: replacing a record by an OLDER record that was
 * validly signed for the same credential (a restore of an old backup row),
 * and deleting rows. Both need write access to the store; see the threat
 * model in the README.
 *
 * Legitimate changes: every store mutation (credentials add/update, the
 * rotation's own transitions) re-signs what it writes. Records written by a
 * build without signing are "unsigned": refused until a key holder checks
 * them and runs `db-rotator store sign <credential>|--all`.
 */
import { ConfigError } from '../errors';
import type { SecretCipher } from './crypto';
import type { CredentialSnapshot, VersionRecord } from './transitions';
import { stableJson } from './transitions';
import type { CredentialDefinition } from './types';

export const SIGN_COMMAND = 'db-rotator store sign';

/** A definition or version without a signature (legacy store). Permanent; code "ConfigError". */
export class UnsignedRecordError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsignedRecordError';
  }
}

/** A definition or version whose signature does not match: changed without the store key. */
export class TamperedRecordError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'TamperedRecordError';
  }
}

export function definitionData(def: CredentialDefinition): string {
  return stableJson(['definition', def]);
}

export function versionData(v: VersionRecord): string {
  return stableJson([
    'version',
    v.credentialId,
    v.version,
    v.username,
    v.state,
    v.label ?? null,
    v.createdAt,
    v.updatedAt,
    v.secret,
  ]);
}

export interface VerifyOptions {
  /** Skip the definition (it is about to be replaced by a key holder). */
  skipDefinition?: boolean;
  /** Accept unsigned records (the `store sign` migration); bad signatures still fail. */
  allowUnsigned?: boolean;
}

/** What verification found unsigned (only with allowUnsigned). */
export interface Unsigned {
  definition: boolean;
  versions: number[];
}

/** Throws UnsignedRecordError / TamperedRecordError for the first record that fails. */
export function verifySnapshot(
  snap: CredentialSnapshot,
  cipher: SecretCipher,
  opts: VerifyOptions = {},
): Unsigned {
  const unsigned: Unsigned = { definition: false, versions: [] };
  const who = `credential "${snap.id}"`;
  if (snap.definition && !opts.skipDefinition) {
    if (snap.definition.id !== snap.id) {
      throw new TamperedRecordError(`${who}: its definition names another id; refusing to use it`);
    }
    const what = `${who}: its definition`;
    const r = check(what, definitionData(snap.definition), snap.definitionTag, cipher, opts);
    if (r === 'unsigned') unsigned.definition = true;
  }
  for (const v of snap.versions) {
    const what = `${who} version ${v.version}: its metadata`;
    if (v.credentialId !== snap.id) {
      throw new TamperedRecordError(`${what} names another credential; refusing to use it`);
    }
    if (check(what, versionData(v), v.tag, cipher, opts) === 'unsigned') unsigned.versions.push(v.version);
  }
  return unsigned;
}

function check(
  what: string,
  data: string,
  tag: string | undefined,
  cipher: SecretCipher,
  opts: VerifyOptions,
): 'ok' | 'unsigned' {
  if (tag === undefined || tag === null || tag === '') {
    if (opts.allowUnsigned) return 'unsigned';
    throw new UnsignedRecordError(
      `${what} is not signed with the store key (written before records were signed, or inserted by hand); ` +
        `refusing to use it. A key holder checks it and signs it with: ${SIGN_COMMAND} <credential> (or --all)`,
    );
  }
  const r = cipher.verify(data, tag);
  if (r === 'ok') return 'ok';
  if (r === 'unknown-key') {
    throw new TamperedRecordError(
      `${what} is signed with key id "${cipher.keyIdOfTag(tag) ?? '?'}", which is not in the keyring (known: ${cipher.keyIds.join(', ')})`,
    );
  }
  throw new TamperedRecordError(
    `${what} was changed without the store key (its signature does not match; or this keyring holds a different key under id "${cipher.keyIdOfTag(tag) ?? '?'}"); refusing to use it. ` +
      `A key holder re-adds the definition with: db-rotator credentials add <file> (or restores the store from a backup)`,
  );
}

/** The snapshot with every present record signed with the active key. */
export function signSnapshot(snap: CredentialSnapshot, cipher: SecretCipher): CredentialSnapshot {
  const out: CredentialSnapshot = {
    id: snap.id,
    versions: snap.versions.map((v) => {
      const { tag: _old, ...rest } = v;
      return { ...rest, tag: cipher.sign(versionData(rest)) };
    }),
  };
  if (snap.definition) {
    out.definition = snap.definition;
    out.definitionTag = cipher.sign(definitionData(snap.definition));
  }
  return out;
}
