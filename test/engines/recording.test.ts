import { describe, expect, it } from 'vitest';
import { changeWriter, NOT_EXECUTED } from '../../src/engines/recording';

describe('changeWriter', () => {
  it('without a recorder sends every change and records nothing', async () => {
    const sent: string[] = [];
    const w = changeWriter<string, number>(
      undefined,
      async (change) => {
        sent.push(change);
        return change.length;
      },
      () => {
        throw new Error('a real run must not show changes');
      },
    );
    expect(await w.write('DROP ROLE x', 'dropping')).toBe(11);
    expect(sent).toEqual(['DROP ROLE x']);
    w.note('nobody hears this');
    expect(w.plannedLogin('missing')).toBe(false);
    expect(w.storedOr(() => 'read', 'unknown')).toBe('read');
  });

  it('with a recorder records each shown line, sends nothing and answers NOT_EXECUTED', async () => {
    const recorded: string[] = [];
    const notes: string[] = [];
    const w = changeWriter<string[], number>(
      { record: (s) => recorded.push(s), note: (m) => notes.push(m) },
      () => {
        throw new Error('a dry run must not send');
      },
      (statements) => statements.map((s) => s.replace('secret', '<redacted>')),
    );
    expect(await w.write(['CREATE ROLE a PASSWORD secret', 'GRANT b TO a'], 'creating')).toBe(NOT_EXECUTED);
    expect(recorded).toEqual(['CREATE ROLE a PASSWORD <redacted>', 'GRANT b TO a']);
    w.note('1 session would be ended');
    expect(notes).toEqual(['1 session would be ended']);
    expect(w.plannedLogin('a')).toBe(true);
    expect(w.storedOr(() => 'read', 'unknown')).toBe('unknown');
  });
});
