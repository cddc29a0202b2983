import { describe, expect, it } from 'vitest';
import { generateKeyrings } from '../../../src/cli/commands/keys';
import { parseKeyring } from '../../../src/store/crypto';

const parse = (lines: string[]) =>
  Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

describe('keys generate', () => {
  it('two fresh keyrings with one AES-256 key each, usable as configuration', () => {
    const env = parse(generateKeyrings({}, { keyId: '20261201', rotate: false }));
    expect(Object.keys(env)).toEqual(['ROTATOR_STORE_KEYS', 'ROTATOR_CODEC_KEYS']);
    const store = parseKeyring(env.ROTATOR_STORE_KEYS!);
    const codec = parseKeyring(env.ROTATOR_CODEC_KEYS!);
    expect(store.activeKeyId).toBe('store-20261201');
    expect(codec.activeKeyId).toBe('codec-20261201');
    expect(store.keys['store-20261201']).toHaveLength(32);
    expect(store.keys['store-20261201']!.equals(codec.keys['codec-20261201']!)).toBe(false);
  });

  it('--rotate puts a new active key in front and keeps the old ones', () => {
    const old = parse(generateKeyrings({}, { keyId: 'a', rotate: false }));
    const next = parse(generateKeyrings(old, { keyId: 'b', rotate: true }));
    const store = parseKeyring(next.ROTATOR_STORE_KEYS!);
    expect(store.activeKeyId).toBe('store-b');
    expect(Object.keys(store.keys).sort()).toEqual(['store-a', 'store-b']);
    expect(next.ROTATOR_CODEC_KEYS!.endsWith(old.ROTATOR_CODEC_KEYS!)).toBe(true);
  });

  it('--rotate refuses without current keyrings or with a reused key id, and never echoes a key', () => {
    expect(() => generateKeyrings({}, { keyId: 'b', rotate: true })).toThrow(
      /needs the current ROTATOR_STORE_KEYS/,
    );
    const old = parse(generateKeyrings({}, { keyId: 'a', rotate: false }));
    expect(() => generateKeyrings(old, { keyId: 'a', rotate: true })).toThrow(/has a key "store-a" already/);
    const broken = { ...old, ROTATOR_STORE_KEYS: 'x:bm90LWEta2V5' };
    let message = '';
    try {
      generateKeyrings(broken, { keyId: 'b', rotate: true });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/keyring key "x"/);
    expect(message).not.toContain('bm90LWEta2V5');
  });
});
