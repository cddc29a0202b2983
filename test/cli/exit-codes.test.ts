import { describe, expect, it } from 'vitest';
import { checked, CliError, EXIT, exitCodeFor } from '../../src/cli/exit-codes';

describe('exit codes scripts rely on', () => {
  it('keep their numbers', () => {
    const codes = 'ok error usage notRotated conflict notFound blocked failed needsOperator'.split(' ');
    expect(Object.entries(EXIT)).toEqual(codes.map((name, code) => [name, code]));
  });

  it("describe a rotation's state: stuck and failed 7, needs-operator 8, not rotated 3", () => {
    expect(exitCodeFor({ outcome: undefined, phase: 'migrate' })).toBe(EXIT.ok);
    expect(exitCodeFor({ outcome: 'rotated', phase: 'done' })).toBe(EXIT.ok);
    expect(exitCodeFor({ outcome: 'planned', phase: 'done' })).toBe(EXIT.ok);
    expect(exitCodeFor({ outcome: 'aborted', phase: 'done' })).toBe(EXIT.notRotated);
    expect(exitCodeFor({ outcome: 'rolled-back', phase: 'done' })).toBe(EXIT.notRotated);
    expect(exitCodeFor({ outcome: 'failed', phase: 'done' })).toBe(EXIT.failed);
    expect(exitCodeFor({ outcome: 'terminated', phase: 'apply' })).toBe(EXIT.failed);
    expect(exitCodeFor({ outcome: undefined, phase: 'needs-operator' })).toBe(EXIT.needsOperator);
    expect(exitCodeFor({ outcome: 'rotated', phase: 'done', stuck: 'no worker' })).toBe(EXIT.failed);
  });

  it('a failed local validation is a usage error with its message', () => {
    const err = (() => {
      try {
        return checked(() => {
          throw new Error('reason is too long');
        });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ message: 'reason is too long', exitCode: EXIT.usage });
  });
});
