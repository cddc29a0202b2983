import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { generateKeyBase64, parseKeyring } from '../../store/crypto';

const KEYRINGS = [
  ['ROTATOR_STORE_KEYS', 'store'],
  ['ROTATOR_CODEC_KEYS', 'codec'],
] as const;

/**
 * The two keyrings as environment lines: a new AES-256 key for each, prepended
 * (active) to the current keyring from the environment when `rotate` is set,
 * so data encrypted with older keys stays readable.
 */
export function generateKeyrings(env: NodeJS.ProcessEnv, opts: { keyId: string; rotate: boolean }): string[] {
  return KEYRINGS.map(([name, kind]) => {
    const fresh = `${kind}-${opts.keyId}:${generateKeyBase64()}`;
    const current = env[name];
    if (!opts.rotate) return `${name}=${fresh}`;
    if (!current) throw new Error(`--rotate needs the current ${name} in the environment`);
    const existing = parseKeyring(current); // validates; fails naming the entry, never the key
    if (Object.prototype.hasOwnProperty.call(existing.keys, `${kind}-${opts.keyId}`))
      throw new Error(`${name} has a key "${kind}-${opts.keyId}" already; pass another --key-id`);
    return `${name}=${fresh},${current}`;
  });
}

/** `db-rotator keys generate`: new keyrings for the store and the payload codec. */
export function registerKeysCommand(program: Command): void {
  program
    .command('keys')
    .description('keyrings for the store (secrets at rest) and the codec (Temporal payloads)')
    .command('generate')
    .description(
      'print ROTATOR_STORE_KEYS and ROTATOR_CODEC_KEYS lines (an env file) with new random AES-256 keys',
    )
    .option('--key-id <id>', 'key id suffix (letters, digits, _ -)', defaultKeyId())
    .option('--rotate', 'prepend the new keys to the keyrings in the environment (old keys still decrypt)')
    .option('--out <file>', 'write to this file (mode 600) instead of standard output')
    .action((opts: { keyId: string; rotate?: boolean; out?: string }) => {
      const lines = generateKeyrings(process.env, { keyId: opts.keyId, rotate: opts.rotate ?? false });
      const text = `${lines.join('\n')}\n`;
      if (opts.out) {
        writeFileSync(opts.out, text, { mode: 0o600, flag: 'wx' });
        console.error(`keys written to ${opts.out}; keep them in your secret manager, not in the repository`);
      } else {
        process.stdout.write(text);
      }
    });
}

function defaultKeyId(): string {
  return new Date().toISOString().slice(0, 10).replace(/-/g, '');
}
