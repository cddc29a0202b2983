/**
 * Other processes on one store (a worker and CLI invocations): a script run
 * by tsx in `count` child processes at once, each with CHILD=<n>, KEY (the
 * store key, base64) and STORE_PATH in its environment and `cipher` defined.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './services';

/** Runs `body` (TypeScript, inside `async function main()`) in `count` processes; resolves to their stdout. */
export async function runStoreChildren(
  dir: string,
  body: string,
  opts: { count: number; key: Buffer; storePath: string },
): Promise<string[]> {
  const script = join(dir, `child-${Date.now()}.ts`);
  await fs.writeFile(
    script,
    `
import { FileStore, openStore, SecretCipher } from ${JSON.stringify(join(REPO_ROOT, 'src', 'store'))};
void FileStore;
void openStore;
async function main() {
  const cipher = new SecretCipher({ activeKeyId: 'k1', keys: { k1: Buffer.from(process.env.KEY!, 'base64') } });
  ${body}
}
main().catch((e) => { console.error(e); process.exit(1); });
`,
  );
  const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
  return Promise.all(
    Array.from(
      { length: opts.count },
      (_, n) =>
        new Promise<string>((resolve, reject) => {
          const p = spawn(tsx, [script], {
            env: {
              ...process.env,
              KEY: opts.key.toString('base64'),
              STORE_PATH: opts.storePath,
              CHILD: String(n),
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          let err = '';
          p.stdout.on('data', (d) => (out += d));
          p.stderr.on('data', (d) => (err += d));
          p.on('exit', (code) =>
            code === 0 ? resolve(out) : reject(new Error(`child ${n} exited ${code}: ${err}`)),
          );
        }),
    ),
  );
}

/**
 * The racing children's body: 15 audits each (`auditId(i)`, a JS expression of `i`), and at the 6th an
 * attempt to create a pending version of `pendingId`; prints ["created"] or the error's name.
 */
export function auditAndRaceForPending(open: string, auditId: string, pendingId: string): string {
  return `
  const store = await ${open};
  const me = Number(process.env.CHILD);
  const results: string[] = [];
  for (let i = 0; i < 15; i++) {
    await store.audit({ actor: 'child' + me, credentialId: ${auditId}, action: 'ping', version: i });
    if (i === 5) {
      try {
        await store.createPending(${pendingId}, 10 + me, 'app_' + me, () => 'pw-child-' + me + '-secret', 'child' + me);
        results.push('created');
      } catch (e) {
        results.push((e as Error).name);
      }
    }
  }
  process.stdout.write(JSON.stringify(results));`;
}
