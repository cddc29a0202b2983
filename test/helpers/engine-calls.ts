/**
 * The old engine entry points, spelled over the narrow interface, so engine
 * tests read like the rotation steps they exercise.
 */
import { expect } from 'vitest';
import { ConfigError } from '../../src/errors';
import type { ResolvedStrategy } from '../../src/shared/types';
import type { Engine } from '../../src/engines/types';

/** What the rotation's preflight does with Engine.check: the first blocker is thrown. */
export async function preflight(engine: Engine, login: string, strategy: ResolvedStrategy): Promise<void> {
  const [first] = await engine.check(login, strategy);
  if (first) throw first;
}

/** dual-password apply. */
export function addPassword(engine: Engine, login: string, password: string, current: string): Promise<void> {
  return engine.changePassword(login, { mode: 'add', password, current });
}

/** dual-password revoke / undo. */
export function keepOnlyPassword(engine: Engine, login: string, password: string): Promise<void> {
  return engine.changePassword(login, { mode: 'keep-only', password });
}

/** single. */
export function setPassword(engine: Engine, login: string, password: string): Promise<void> {
  return engine.changePassword(login, { mode: 'replace', password });
}

/** An engine whose admin password is `wrong`: describe() fails with a ConfigError that does not echo it. */
export async function expectWrongAdminPasswordRefused(engine: Engine, wrong: string): Promise<void> {
  try {
    const err = await engine.describe().catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain(wrong);
  } finally {
    await engine.close();
  }
}
