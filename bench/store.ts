/**
 * Store cost per operation against the number of credentials, for both
 * embedded backends, without Temporal or a database: fill a fresh store with
 * N credentials, then time the store calls one rotation makes (getDefinition,
 * getSecret, createPending, promote, markRevoked) on a sample of them.
 * Sizes via BENCH_STORE_SIZES=100,500,2000. Writes reports/bench-store.json.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore, generateKeyBase64, openStore, parseKeyring, SecretCipher } from '../src/store';
import type { ManagedCredentialStore } from '../src/store';

const SIZES = (process.env.BENCH_STORE_SIZES ?? '100,500,2000').split(',').map(Number);
/** Only backends whose name starts with this ("dir" or "single"). */
const ONLY = process.env.BENCH_STORE_BACKEND;
const SAMPLE = Number(process.env.BENCH_STORE_SAMPLE ?? 30);
const cipher = new SecretCipher(parseKeyring(`k1:${generateKeyBase64()}`));

const backends: Record<string, (dir: string) => Promise<ManagedCredentialStore>> = {
  'single-file (v1)': (dir) => FileStore.open(join(dir, 'store.json'), cipher),
  'dir (v2, default)': (dir) => openStore({ backend: 'file', path: join(dir, 'store') }, cipher),
};

async function measure(name: string, size: number) {
  const dir = mkdtempSync(join(tmpdir(), 'rotator-bench-store-'));
  const store = await backends[name]!(dir);
  try {
    const t0 = performance.now();
    for (let i = 0; i < size; i++) {
      const id = `fleet/${i}`;
      await store.putDefinition(
        {
          id,
          engine: 'postgres',
          host: 'db',
          port: 5432,
          baseUsername: `app_${i}`,
          adminCredentialId: 'fleet/admin',
        } as never,
        'bench',
      );
      await store.importCurrent(id, { username: `app_${i}`, password: `pw-${i}-initial-000` }, 'bench');
    }
    const fillMs = performance.now() - t0;
    const per: number[] = [];
    for (let k = 0; k < SAMPLE; k++) {
      const id = `fleet/${Math.floor((k * size) / SAMPLE)}`;
      const t = performance.now();
      await store.getDefinition(id);
      await store.getSecret(id, 'CURRENT');
      await store.createPending(id, 2, `app_${k}_b`, () => 'pw-next-000000000000', 'bench');
      await store.getSecret(id, 'PENDING');
      await store.promote(id, 2, 'bench');
      await store.markRevoked(id, 1, 'bench');
      per.push(performance.now() - t);
    }
    per.sort((a, b) => a - b);
    return {
      backend: name,
      size,
      fillSeconds: +(fillMs / 1000).toFixed(1),
      rotationStoreMsP50: +per[Math.floor(per.length / 2)]!.toFixed(1),
      rotationStoreMsP95: +per[Math.min(per.length - 1, Math.floor(per.length * 0.95))]!.toFixed(1),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows = [];
  for (const size of SIZES) {
    for (const name of Object.keys(backends).filter((n) => !ONLY || n.startsWith(ONLY))) {
      // Filling format 1 is O(n²) (minutes at 2,000): only when asked for by BENCH_STORE_BACKEND=single.
      if (!ONLY && name.startsWith('single') && size > 1000) {
        console.log(
          `  ${name.padEnd(18)} ${String(size).padStart(5)} credentials: skipped (BENCH_STORE_BACKEND=single to run)`,
        );
        continue;
      }
      const r = await measure(name, size);
      rows.push(r);
      console.log(
        `  ${r.backend.padEnd(18)} ${String(size).padStart(5)} credentials: fill ${r.fillSeconds} s, store calls of one rotation p50 ${r.rotationStoreMsP50} ms, p95 ${r.rotationStoreMsP95} ms`,
      );
    }
  }
  mkdirSync('reports', { recursive: true });
  writeFileSync(
    join('reports', 'bench-store.json'),
    JSON.stringify({ sample: SAMPLE, results: rows }, null, 2),
  );
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
