import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import {
  ApplicationFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type ScheduleHandle,
} from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import { createCodecServer, type CodecServerOptions } from './codec/server';
import { readDefinitionFile, registerStoreCommands } from './cli/store-commands';
import { formatHistory, rotationHistory } from './history';
import { loadConfig, type RotatorConfig } from './config';
import { RotatorError } from './errors';
import { connectClient, openConfiguredStore } from './runtime';
import { planWorkflowId, rotationWorkflowId } from './shared/constants';
import {
  abortSignal,
  extendGraceSignal,
  finishGraceSignal,
  rollbackSignal,
  statusQuery,
} from './shared/messages';
import type {
  ConsumerStatus,
  FleetInput,
  FleetSummary,
  RotationDryRun,
  RotationInput,
  RotationResult,
  RotationStatus,
} from './shared/types';
import {
  createExpirySweepSchedule,
  createRotationSchedule,
  describeScheduleLine,
  rotationScheduleId,
} from './schedules';

/** Exit codes a script can rely on. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notRotated: 3,
  conflict: 4,
  notFound: 5,
  /** A dry run found blockers: the rotation would not go through. */
  blocked: 6,
} as const;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function duration(value: string): number {
  try {
    const ms = /^\d+$/.test(value) ? Number(value) : msToNumber(value as never);
    if (!Number.isFinite(ms) || ms < 0) throw new Error();
    return ms;
  } catch {
    throw new InvalidArgumentError(`not a duration: "${value}" (examples: 90s, 15m, 24h, 7d)`);
  }
}

/** Starts the rotation of one credential; the fixed workflow id makes a second start fail. */
export async function startRotation(client: Client, cfg: RotatorConfig, input: RotationInput) {
  try {
    return await client.workflow.start('rotateCredential', {
      args: [input],
      taskQueue: cfg.temporal.taskQueue,
      workflowId: rotationWorkflowId(input.credentialId),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`a rotation of "${input.credentialId}" is already running`, EXIT.conflict);
    }
    throw err;
  }
}

/** A dry run with the consumers the credential's latest rotation knows (if any). */
export type DryRunReport = RotationDryRun & { knownConsumers: ConsumerStatus[] };

/**
 * Runs the rotation workflow in dry-run mode under its own id (a rotation of
 * the credential may be running) and returns the plan.
 */
export async function planRotation(
  client: Client,
  cfg: RotatorConfig,
  input: RotationInput,
): Promise<DryRunReport> {
  const handle = await client.workflow.start('rotateCredential', {
    args: [{ ...input, dryRun: true }],
    taskQueue: cfg.temporal.taskQueue,
    workflowId: planWorkflowId(input.credentialId),
  });
  let result: RotationResult;
  try {
    result = (await handle.result()) as RotationResult;
  } catch (err) {
    const cause = rootFailure(err);
    const type = cause instanceof ApplicationFailure ? cause.type : undefined;
    const message = cause instanceof Error ? cause.message : String(cause);
    if (type === 'UnknownCredentialError') throw new CliError(message, EXIT.notFound);
    throw new CliError(`dry run failed: ${type ? `${type}: ` : ''}${message}`, EXIT.error);
  }
  if (!result.dryRun)
    throw new CliError('the worker returned no plan (is it older than this CLI?)', EXIT.error);
  return { ...result.dryRun, knownConsumers: await knownConsumers(client, input.credentialId) };
}

function rootFailure(err: unknown): unknown {
  let e = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error)
    e = (e as { cause?: unknown }).cause;
  return e;
}

/** Consumers the running or last rotation of the credential heard from; none if there is none. */
async function knownConsumers(client: Client, credentialId: string): Promise<ConsumerStatus[]> {
  const query = client.workflow
    .getHandle(rotationWorkflowId(credentialId))
    .query(statusQuery)
    .then((s) => s.consumers)
    .catch(() => []);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ConsumerStatus[]>((resolve) => {
    timer = setTimeout(() => resolve([]), 5_000);
  });
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function formatDryRun(d: DryRunReport): string {
  const lines = [`dry run      ${d.credentialId} (nothing was changed)`];
  lines.push(`engine       ${d.engine}${d.serverVersion ? ` (${d.serverVersion})` : ''}`);
  if (d.strategy) lines.push(`strategy     ${d.strategy} — ${d.strategyReason ?? ''}`);
  if (d.plan) {
    const p = d.plan;
    lines.push(`versions     ${p.fromVersion} (${p.fromUsername}) → ${p.toVersion} (${p.toUsername})`);
    lines.push(
      `timings      grace ${ms(p.graceMs)}, migration timeout ${ms(p.migrationTimeoutMs)}, drain timeout ${ms(p.drainTimeoutMs)}`,
    );
    if (p.emergency) lines.push(`EMERGENCY    ${p.emergency.reason}`);
  }
  const l = d.loginToCreateOrAlter;
  if (l) {
    const what =
      l.action === 'create'
        ? `${l.exists ? 're-sync existing' : 'create'} "${l.login}" like "${l.like ?? ''}"`
        : `${l.action === 'add-password' ? 'add a second password to' : 'replace the password of'} "${l.login}"`;
    lines.push(`login        ${what}`);
  }
  lines.push(d.blockers.length === 0 ? 'blockers     none' : `blockers     ${d.blockers.length}`);
  for (const b of d.blockers) lines.push(`  ✗ ${b}`);
  const list = (title: string, items: string[]) => {
    lines.push(`${title} (${items.length})`);
    for (const item of items) lines.push(`  ${item}`);
  };
  list('apply statements', d.statements.apply);
  list('revoke statements, after grace', d.statements.revoke);
  if (d.strategy === 'dual-user') list('privileges to clone', d.privilegesToClone);
  list(
    `open sessions of "${d.plan?.fromUsername ?? 'the login'}"`,
    d.openSessions.map(
      (s) =>
        `${s.id} ${s.username}${s.clientAddress ? ` from ${s.clientAddress}` : ''}${s.state ? `, ${s.state}` : ''}${s.ageSeconds !== undefined ? `, ${s.ageSeconds} s` : ''}`,
    ),
  );
  list(
    'consumers known from the last rotation',
    d.knownConsumers.map((c) => `${c.consumerId} v${c.version} (seen ${c.lastSeen})`),
  );
  list('notes', d.notes);
  lines.push(d.blockers.length === 0 ? 'result       the rotation can run' : 'result       BLOCKED');
  return lines.join('\n');
}

function ms(value: number): string {
  if (value % 3_600_000 === 0) return `${value / 3_600_000}h`;
  if (value % 60_000 === 0) return `${value / 60_000}m`;
  if (value % 1000 === 0) return `${value / 1000}s`;
  return `${value}ms`;
}

export function formatStatus(s: RotationStatus): string {
  const lines = [
    `credential   ${s.credentialId}`,
    `phase        ${s.phase}${s.outcome ? ` (${s.outcome})` : ''}`,
  ];
  if (s.plan) {
    lines.push(
      `engine       ${s.plan.engine} (${s.plan.serverVersion})`,
      `strategy     ${s.plan.strategy} — ${s.plan.strategyReason}`,
      `versions     ${s.plan.fromVersion} (${s.plan.fromUsername}) → ${s.plan.toVersion} (${s.plan.toUsername})`,
    );
    if (s.plan.emergency) lines.push(`EMERGENCY    ${s.plan.emergency.reason}`);
    for (const w of s.plan.warnings) lines.push(`warning      ${w}`);
  }
  if (s.migrationDeadline) lines.push(`migrate by   ${s.migrationDeadline}`);
  if (s.graceDeadline) lines.push(`grace until  ${s.graceDeadline}`);
  if (s.abortRequested) lines.push(`abort        ${s.abortRequested}`);
  if (s.rollbackRequested) lines.push(`rollback     ${s.rollbackRequested}`);
  if (s.lastError) lines.push(`last error   ${s.lastError}`);
  lines.push(`consumers    ${s.consumers.length} known, ${s.consumersBehind.length} behind`);
  for (const c of s.consumers) {
    lines.push(
      `  ${s.consumersBehind.includes(c.consumerId) ? '✗' : '✓'} ${c.consumerId} v${c.version} (seen ${c.lastSeen})`,
    );
  }
  lines.push('phases');
  for (const p of s.phases) {
    const ms = p.endedAt ? `${Date.parse(p.endedAt) - Date.parse(p.startedAt)} ms` : 'running';
    lines.push(`  ${p.phase.padEnd(15)} ${ms}`);
  }
  return lines.join('\n');
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

export function buildCli(): Command {
  const program = new Command('db-rotator')
    .description('Zero-downtime database credential rotation on Temporal')
    .exitOverride()
    .showHelpAfterError();

  const withClient = async <T>(fn: (client: Client, cfg: RotatorConfig) => Promise<T>): Promise<T> => {
    const cfg = loadConfig();
    const client = await connectClient(cfg);
    try {
      return await fn(client, cfg);
    } finally {
      await client.connection.close();
    }
  };
  const handleFor = (client: Client, credentialId: string) =>
    client.workflow.getHandle(rotationWorkflowId(credentialId));

  program
    .command('rotate <credential>')
    .description('start a rotation (one at a time per credential)')
    .option('--grace <duration>', 'grace period before the old credential is revoked', duration)
    .option('--migration-timeout <duration>', 'how long to wait for consumers to move', duration)
    .option('--drain-timeout <duration>', 'how long sessions may drain before they are ended', duration)
    .option('--reason <text>', 'why (goes to the audit log)')
    .option(
      '--emergency',
      'leaked credential: short grace (default 5m), then end the old sessions regardless',
    )
    .option('--wait', 'wait for the outcome, showing progress')
    .option(
      '--dry-run',
      `show the plan (strategy, statements, blockers, sessions) and change nothing; exit ${EXIT.blocked} if blocked`,
    )
    .option('--json', 'with --dry-run: machine-readable plan')
    .action(async (credentialId: string, opts) => {
      if (opts.emergency && !opts.reason) throw new CliError('--emergency needs --reason', EXIT.usage);
      if (opts.json && !opts.dryRun) throw new CliError('--json goes with --dry-run', EXIT.usage);
      await withClient(async (client, cfg) => {
        const input: RotationInput = {
          credentialId,
          graceMs: opts.grace,
          migrationTimeoutMs: opts.migrationTimeout,
          drainTimeoutMs: opts.drainTimeout,
          reason: opts.reason,
          emergency: opts.emergency,
          requestedBy: cfg.actor,
        };
        if (opts.dryRun) {
          const report = await planRotation(client, cfg, input);
          console.log(opts.json ? JSON.stringify(report, null, 2) : formatDryRun(report));
          if (report.blockers.length > 0) process.exitCode = EXIT.blocked;
          return;
        }
        const handle = await startRotation(client, cfg, input);
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        let last = '';
        const timer = setInterval(() => {
          handle
            .query(statusQuery)
            .then((s) => {
              const line = `${s.phase} — ${s.consumersBehind.length}/${s.consumers.length} consumers behind`;
              if (line !== last) console.log(line);
              last = line;
            })
            .catch(() => undefined);
        }, 1000);
        try {
          const result = (await handle.result()) as RotationResult;
          console.log(`outcome: ${result.outcome}${result.error ? ` — ${result.error}` : ''}`);
          if (result.outcome !== 'rotated') process.exitCode = EXIT.notRotated;
        } finally {
          clearInterval(timer);
        }
      });
    });

  program
    .command('status <credential>')
    .description('phase, versions, consumers and deadlines of the latest rotation')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts) => {
      await withClient(async (client) => {
        const status = await handleFor(client, credentialId).query(statusQuery);
        console.log(opts.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      });
    });

  const signalCommand = (
    name: string,
    description: string,
    send: (
      credentialId: string,
      opts: Record<string, string>,
      client: Client,
      cfg: RotatorConfig,
    ) => Promise<void>,
  ) =>
    program
      .command(`${name} <credential>`)
      .description(description)
      .option('--reason <text>', 'why (recorded in status and audit)')
      .action(async (credentialId: string, opts) => {
        await withClient(async (client, cfg) => {
          await send(credentialId, opts, client, cfg);
          console.log(`${name}: sent to ${rotationWorkflowId(credentialId)}`);
        });
      });

  signalCommand('abort', 'before promote: undo everything; after promote: roll back', (id, o, c, cfg) =>
    handleFor(c, id).signal(abortSignal, { reason: o.reason, by: cfg.actor }),
  );
  signalCommand('rollback', 'during migrate/grace: go back to the old credential', (id, o, c, cfg) =>
    handleFor(c, id).signal(rollbackSignal, { reason: o.reason, by: cfg.actor }),
  );
  signalCommand('finish-grace', 'end the grace period now and revoke the old credential', (id, _o, c, cfg) =>
    handleFor(c, id).signal(finishGraceSignal, { by: cfg.actor }),
  );
  program
    .command('extend-grace <credential> <duration>')
    .description('move the grace deadline later')
    .action(async (credentialId: string, by: string) => {
      const byMs = duration(by);
      await withClient(async (client, cfg) => {
        await handleFor(client, credentialId).signal(extendGraceSignal, { byMs, by: cfg.actor });
        console.log(`extend-grace: +${byMs} ms sent to ${rotationWorkflowId(credentialId)}`);
      });
    });

  const credentials = program
    .command('credentials')
    .description('manage credential definitions (never prints a secret)');
  credentials
    .command('add <file>')
    .description('add or replace a credential definition from a JSON file')
    .action(async (file: string) => {
      const cfg = loadConfig();
      const def = readDefinitionFile(file);
      const store = await openConfiguredStore(cfg);
      try {
        await store.putDefinition(def, cfg.actor);
        console.log(`credential ${def.id} saved`);
      } finally {
        await store.close();
      }
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
      const store = await openConfiguredStore(cfg);
      try {
        const v = await store.importCurrent(credentialId, { username: opts.username, password }, cfg.actor);
        console.log(`credential ${credentialId}: version ${v.version} is CURRENT`);
      } finally {
        await store.close();
      }
    });
  credentials
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (opts) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        const defs = await store.listDefinitions();
        if (opts.json) console.log(JSON.stringify(defs, null, 2));
        else for (const d of defs) console.log(`${d.id}\t${d.engine}\t${d.host}:${d.port}\t${d.strategy}`);
      } finally {
        await store.close();
      }
    });
  credentials
    .command('show <credential>')
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        const definition = await store.getDefinition(credentialId);
        const versions = await store.listVersions(credentialId);
        if (opts.json) console.log(JSON.stringify({ definition, versions }, null, 2));
        else {
          console.log(JSON.stringify(definition, null, 2));
          for (const v of versions) console.log(`v${v.version}\t${v.username}\t${v.state}\t${v.label ?? ''}`);
        }
      } finally {
        await store.close();
      }
    });

  program
    .command('history <credential>')
    .description(
      'past rotations of a credential: outcome, strategy, versions, duration, who (from the audit log)',
    )
    .option('--json', 'machine-readable output')
    .action(async (credentialId: string, opts) => {
      const cfg = loadConfig();
      const store = await openConfiguredStore(cfg);
      try {
        await store.getDefinition(credentialId); // unknown credential → clear error and exit code
        const entries = rotationHistory(await store.listAudit(credentialId));
        console.log(opts.json ? JSON.stringify(entries, null, 2) : formatHistory(entries));
      } finally {
        await store.close();
      }
    });

  const schedule = program.command('schedule').description('periodic rotation through Temporal Schedules');
  schedule
    .command('create <credential>')
    .option('--every-days <n>', 'rotation period in days', (v) => positiveInt(v), 90)
    .option('--jitter <duration>', 'random delay per run', duration)
    .option('--grace <duration>', 'grace period of each rotation', duration)
    .option('--paused', 'create it paused')
    .action(async (credentialId: string, opts) => {
      await withClient(async (client, cfg) => {
        const handle = await createRotationSchedule(client, cfg, credentialId, {
          everyDays: opts.everyDays,
          jitterMs: opts.jitter,
          rotation: opts.grace === undefined ? undefined : { graceMs: opts.grace },
          paused: opts.paused,
        });
        console.log(`schedule ${handle.scheduleId} created`);
      });
    });
  schedule
    .command('create-expiry-sweep')
    .description('daily: rotate every credential whose expiresAt is within N days')
    .option('--within-days <n>', 'days before expiry', (v) => positiveInt(v), 14)
    .action(async (opts) => {
      await withClient(async (client, cfg) => {
        const handle = await createExpirySweepSchedule(client, cfg, opts.withinDays);
        console.log(`schedule ${handle.scheduleId} created`);
      });
    });
  schedule.command('list').action(async () => {
    await withClient(async (client) => {
      for await (const s of client.schedule.list()) {
        if (!s.scheduleId.startsWith('rotation-schedule/')) continue;
        console.log(
          describeScheduleLine(s.scheduleId, await client.schedule.getHandle(s.scheduleId).describe()),
        );
      }
    });
  });
  for (const [name, act] of [
    ['pause', (h: ScheduleHandle) => h.pause('paused from CLI')],
    ['unpause', (h: ScheduleHandle) => h.unpause('unpaused from CLI')],
    ['trigger', (h: ScheduleHandle) => h.trigger()],
    ['delete', (h: ScheduleHandle) => h.delete()],
  ] as const) {
    schedule.command(`${name} <credential>`).action(async (credentialId: string) => {
      await withClient(async (client) => {
        await act(client.schedule.getHandle(rotationScheduleId(credentialId)));
        console.log(`schedule ${rotationScheduleId(credentialId)}: ${name}`);
      });
    });
  }

  program
    .command('fleet')
    .description('rotate many credentials with bounded concurrency')
    .command('rotate')
    .option('--ids <ids>', 'comma-separated credential ids')
    .option('--engine <engine>', 'only this engine')
    .option('--label <k=v...>', 'label selector (repeatable)', (v, acc: string[] = []) => [...acc, v])
    .option('--expiring-within-days <n>', 'only credentials expiring soon', (v) => positiveInt(v))
    .option('--concurrency <n>', 'rotations at once', (v) => positiveInt(v), 5)
    .option('--grace <duration>', 'grace period of each rotation', duration)
    .option('--wait', 'wait for the summary')
    .action(async (opts) => {
      const labels = Object.fromEntries(
        ((opts.label as string[] | undefined) ?? []).map((kv) => {
          const i = kv.indexOf('=');
          if (i <= 0) throw new CliError(`--label expects key=value, got "${kv}"`, EXIT.usage);
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
      );
      const input: FleetInput = {
        selector: {
          ids: opts.ids ? String(opts.ids).split(',').filter(Boolean) : undefined,
          engine: opts.engine,
          labels: Object.keys(labels).length ? labels : undefined,
          expiringWithinDays: opts.expiringWithinDays,
        },
        concurrency: opts.concurrency,
        rotation: opts.grace === undefined ? undefined : { graceMs: opts.grace },
      };
      await withClient(async (client, cfg) => {
        const handle = await client.workflow.start('rotateFleet', {
          args: [input],
          taskQueue: cfg.temporal.taskQueue,
          workflowId: `fleet/${new Date().toISOString()}`,
        });
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        const summary = (await handle.result()) as FleetSummary;
        console.log(JSON.stringify(summary, null, 2));
        if (summary.failed.length > 0) process.exitCode = EXIT.notRotated;
      });
    });

  registerStoreCommands(program);

  program
    .command('codec-server')
    .description('serve /encode and /decode for the Temporal UI/CLI (needs ROTATOR_CODEC_SERVER_TOKEN)')
    .action(async () => {
      const cfg = loadConfig();
      const server = createCodecServer(codecServerOptions(cfg));
      await new Promise<void>((resolve) => server.listen(cfg.codecServerPort, '127.0.0.1', resolve));
      console.log(
        `codec server on http://127.0.0.1:${cfg.codecServerPort} (CORS origin ${cfg.codecServerCorsOrigin})`,
      );
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      server.close();
    });

  return program;
}

/** Codec server settings from the config; errors name the missing variable. */
function codecServerOptions(cfg: RotatorConfig): CodecServerOptions {
  const base = { keyring: cfg.codecKeyring, corsOrigin: cfg.codecServerCorsOrigin };
  const token = cfg.codecServerToken;
  switch (cfg.codecServerAuth) {
    case 'token':
      if (!token) {
        throw new CliError(
          'set ROTATOR_CODEC_SERVER_TOKEN (operators present it as a bearer token)',
          EXIT.usage,
        );
      }
      return { ...base, token };
    case 'jwt':
      if (!cfg.codecServerJwtIssuer || !cfg.codecServerJwksUrl) {
        throw new CliError(
          'JWT mode needs ROTATOR_CODEC_SERVER_JWT_ISSUER and ROTATOR_CODEC_SERVER_JWKS_URL',
          EXIT.usage,
        );
      }
      return {
        ...base,
        ...(token ? { token } : {}),
        auth: {
          mode: 'jwt',
          issuer: cfg.codecServerJwtIssuer,
          jwksUrl: cfg.codecServerJwksUrl,
          ...(cfg.codecServerJwtAudience ? { audience: cfg.codecServerJwtAudience } : {}),
        },
      };
    case 'loopback':
      return { ...base, ...(token ? { token } : {}), auth: { mode: 'loopback' } };
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive whole number, got "${v}"`);
  return n;
}

/** Runs the CLI and maps every failure to a message and a stable exit code. */
export async function main(argv = process.argv): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      console.error(`error: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof WorkflowNotFoundError) {
      console.error('error: no rotation found for that credential');
      return EXIT.notFound;
    }
    if (err instanceof RotatorError) {
      console.error(`error: ${err.message}`);
      return err.code === 'UnknownCredentialError' ? EXIT.notFound : EXIT.error;
    }
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.error;
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code));
}
