/** `credentials add|import|discard-pending|list|show`: credential definitions and versions (never a secret shown). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig } from '../../config';
import { ConfigError } from '../../errors';
import { readRotation } from '../../rotation-view';
import { parseCredentialDefinition, type CredentialDefinition } from '../../store';
import { withClient, withStore } from '../context';
import { CliError, EXIT } from '../exit-codes';

export function registerCredentialCommands(program: Command): void {
  const credentials = program
    .command('credentials')
    .description('manage credential definitions (never prints a secret)');
  credentials
    .command('add <file>')
    .description('add or replace a credential definition from a JSON file')
    .action(async (file: string) => {
      const cfg = loadConfig();
      const def = readDefinitionFile(file);
      await withStore(async (store) => {
        await store.putDefinition(def, cfg.actor);
        console.log(`credential ${def.id} saved`);
      }, cfg);
    });
  credentials
    .command('import <credential>')
    .description('store the existing login of a credential as its CURRENT version')
    .requiredOption('--username <name>', 'login name on the server')
    .option('--password-stdin', 'read the password from standard input')
    .option('--password-file <path>', 'read the password from a file')
    .action(async (credentialId: string, opts) => {
      const cfg = loadConfig();
      const password = readSecretInput(opts);
      await withStore(async (store) => {
        const v = await store.importCurrent(credentialId, { username: opts.username, password }, cfg.actor);
        console.log(`credential ${credentialId}: version ${v.version} is CURRENT`);
      }, cfg);
    });
  credentials
    .command('discard-pending <credential>')
    .description(
      'delete a PENDING version left by an abandoned rotation (never CURRENT; refused while a rotation runs)',
    )
    .action(discardPending);
  registerListAndShow(credentials);
}

async function discardPending(credentialId: string): Promise<void> {
  const cfg = loadConfig();
  const running = await withClient(async (client) =>
    readRotation(client, credentialId).then(
      (v) => v.execution === 'RUNNING',
      (err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      },
    ),
  );
  if (running)
    throw new CliError(
      `a rotation of "${credentialId}" is running; it owns the PENDING version`,
      EXIT.conflict,
    );
  await withStore(async (store) => {
    const pending = await store.getVersion(credentialId, 'PENDING');
    if (!pending) {
      console.log(`credential ${credentialId}: no PENDING version`);
      return;
    }
    await store.discardPending(credentialId, pending.version, cfg.actor);
    console.log(`credential ${credentialId}: PENDING version ${pending.version} discarded`);
  }, cfg);
}

function registerListAndShow(credentials: Command): void {
  credentials
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withStore(async (store) => {
        const defs = await store.listDefinitions();
        if (opts.json) console.log(JSON.stringify(defs, null, 2));
        else for (const d of defs) console.log(`${d.id}\t${d.engine}\t${d.host}:${d.port}\t${d.strategy}`);
      });
    });
  credentials
    .command('show <credential>')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts: { json?: boolean }) => {
      await withStore(async (store) => {
        const definition = await store.getDefinition(credentialId);
        const versions = await store.listVersions(credentialId);
        if (opts.json) console.log(JSON.stringify({ definition, versions }, null, 2));
        else {
          console.log(JSON.stringify(definition, null, 2));
          for (const v of versions) console.log(`v${v.version}\t${v.username}\t${v.state}\t${v.label ?? ''}`);
        }
      });
    });
}

function readSecretInput(opts: { passwordStdin?: boolean; passwordFile?: string }): string {
  // Never from argv: process arguments are visible to every user of the machine.
  const raw = opts.passwordFile
    ? readFileSync(opts.passwordFile, 'utf8')
    : opts.passwordStdin
      ? readFileSync(0, 'utf8')
      : undefined;
  if (raw === undefined)
    throw new CliError('give the password with --password-stdin or --password-file', EXIT.usage);
  const password = raw.replace(/\r?\n$/, '');
  if (!password) throw new CliError('empty password', EXIT.usage);
  return password;
}

/**
 * Reads a definition file. Errors name the file and the problem, never its
 * content: JSON.parse's own message quotes the text around the error, and a
 * definition file may hold a pasted secret by mistake.
 */
export function readDefinitionFile(file: string): CredentialDefinition {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message)?.[1];
    let where = '';
    if (pos !== undefined) {
      const before = text.slice(0, Number(pos));
      const line = before.split('\n').length;
      where = ` (line ${line}, column ${Number(pos) - before.lastIndexOf('\n')})`;
    }
    throw new ConfigError(`${file} is not valid JSON${where}`);
  }
  return parseCredentialDefinition(json);
}
