/**
 * What every adapter (postgres/, mysql/, redis/, mongodb/ index.ts) does the
 * same way around its own checks and admin connection: `check` runs the
 * engine's blocker search through collectBlockers (./checks.ts), `close`
 * closes the admin connection. Generic: no engine is named here.
 */
import type { RotatorError } from '../errors';
import type { ResolvedStrategy } from '../shared/types';
import { collectBlockers } from './checks';

export abstract class EngineAdapter<AdminConnection extends { close(): Promise<void> }> {
  protected constructor(protected readonly db: AdminConnection) {}

  /** Engine.check (contract in ./types.ts): every blocker findBlockers finds. */
  check(login: string, strategy: ResolvedStrategy): Promise<RotatorError[]> {
    return collectBlockers((found) => this.findBlockers(login, strategy, found));
  }

  /**
   * The engine's checks, in order (see BlockerSearch): push each problem it
   * can step over onto `found`, throw one that ends the checking.
   */
  protected abstract findBlockers(
    login: string,
    strategy: ResolvedStrategy,
    found: RotatorError[],
  ): Promise<void>;

  /** Engine.close: closes the admin connection. */
  close(): Promise<void> {
    return this.db.close();
  }
}
