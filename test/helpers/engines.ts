import type { EngineConnection } from '../../src/engines/types';
import { services } from './services';

/** How an engine under test reaches a shared service, as its admin; `extra` adds database, options... */
export function adminConnection(
  service: 'postgres' | 'mysql' | 'redis' | 'mongo',
  extra: Partial<EngineConnection> = {},
): EngineConnection {
  const s = services[service];
  return { host: s.host, port: s.port, admin: { username: s.user, password: s.password }, ...extra };
}

/** Runs one statement: 'ok', or the error code the server (or driver) gave it. */
export async function outcomeOf(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  }
}
