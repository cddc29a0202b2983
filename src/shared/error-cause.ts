/**
 * The one walk down an error's `cause` chain, shared by the workflow (status
 * `lastError`), the CLI and the rotation view. Pure, no Node APIs: workflow
 * code imports it.
 */
import { ApplicationFailure } from '@temporalio/common';

/** The errors of the chain, outermost first (stops at the first cause that is not an Error). */
export function causeChain(err: unknown): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/** The innermost error of the chain, or `err` itself when it is no Error. */
export function rootCause(err: unknown): unknown {
  const chain = causeChain(err);
  return chain.length > 0 ? chain[chain.length - 1] : err;
}

/** "ErrorType: message" of the innermost cause (an ApplicationFailure's type), else its message. */
export function describeRootCause(err: unknown): string {
  const e = rootCause(err);
  if (e instanceof ApplicationFailure && e.type) return `${e.type}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
