import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/activity';
import { classified } from '../src/activities/rotation';
import { createLogger } from '../src/logger';
import { redactText, sanitizeError } from '../src/sanitize-error';

const PW = 'S3cret-Pa55word-xyz';

function driverError(): Error {
  const inner = Object.assign(new Error(`connect to mongodb://app:${PW}@db:27017 failed`), { code: 'ECONN' });
  return Object.assign(new Error('WRONGPASS invalid username-password pair'), {
    name: 'ReplyError',
    command: { name: 'auth', args: ['app', PW] },
    config: { password: PW },
    client: { connectionParameters: { password: PW } },
    code: 'WRONGPASS',
    cause: inner,
    errors: [Object.assign(new Error(`password=${PW}`), { options: { auth: { password: PW } } })],
  });
}

describe('sanitizeError (one sanitizer for the consumer library and the worker)', () => {
  it('keeps name, message, codes and command name; drops every other field; redacts known secrets and URI/password fragments', () => {
    const e = sanitizeError(driverError(), [PW]);
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({
      name: 'ReplyError',
      message: 'WRONGPASS invalid username-password pair',
      code: 'WRONGPASS',
      command: 'auth',
    });
    const text = [inspect(e, { showHidden: true, depth: 20 }), JSON.stringify(e), e.stack].join('\n');
    expect(text).not.toContain(PW);
    expect((e.cause as Error).message).toBe('connect to mongodb://app:[redacted]@db:27017 failed');
    expect(e.errors![0]!.message).toBe('password=[redacted]');
    expect(redactText(`pwd: ${PW}; x`)).toBe('pwd: [redacted]; x');
  });

  it('the worker maps an unknown driver error to a failure without secret fields or text', async () => {
    const acts = classified({
      async boom() {
        throw (driverError() as Error & { errors: Error[] }).errors[0];
      },
    });
    const f = (await acts.boom().catch((x: unknown) => x)) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(inspect(f, { depth: 20 })).not.toContain(PW);
  });

  it("the worker's logger serializes errors sanitized", () => {
    const lines: string[] = [];
    createLogger('info', { write: (l: string) => void lines.push(l) }).error({ err: driverError() }, 'x');
    expect(lines.join('')).toContain('WRONGPASS');
    expect(lines.join('')).not.toContain(PW);
  });
});
