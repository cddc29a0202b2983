import { statSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConsumerCredential } from './types';

/**
 * The file layouts FileSource reads, so an application reads its credential
 * however it was delivered:
 *
 * 1. A file-target directory (kubelet layout): `dir/..data -> ..<stamp>/`
 *    holding credential.json; `..data` is resolved once per read, so the
 *    read is of one whole version.
 * 2. A single JSON file: our credential.json (`version`), or AWS's database
 *    secret shape (`rotatorVersion`, e.g. synced by External Secrets or
 *    mounted by the Secrets Store CSI driver).
 * 3. A directory of one file per key (a Kubernetes Secret with keys
 *    username, password and version or rotatorVersion), also through `..data`.
 */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The bytes that describe the current credential at `path` (a JSON document for every layout). */
export async function readCredentialBytes(path: string): Promise<Buffer> {
  if (!isDirectory(path)) return readFile(path);
  const data = await readlink(join(path, '..data')).then(
    (target) => join(path, target),
    () => path, // a plain directory (no ..data)
  );
  try {
    return await readFile(join(data, 'credential.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = (name: string) =>
    readFile(join(data, name), 'utf8').then(
      (v) => v.replace(/\r?\n$/, ''),
      () => undefined,
    );
  const [username, password, version, rotatorVersion] = await Promise.all(
    ['username', 'password', 'version', 'rotatorVersion'].map(key),
  );
  return Buffer.from(
    JSON.stringify({ username, password, version: Number(version ?? rotatorVersion ?? Number.NaN) }),
  );
}

/** Our shape or AWS's; the base class validates the result (and never echoes it). */
export function credentialFromJson(parsed: unknown): ConsumerCredential {
  const o = (parsed ?? {}) as Record<string, unknown>;
  return {
    version: (o.version ?? o.rotatorVersion) as number,
    username: o.username as string,
    password: o.password as string,
  };
}
