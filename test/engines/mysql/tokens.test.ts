/** The lexer under SHOW GRANTS / SHOW CREATE USER parsing (src/engines/mysql/tokens.ts). */
import { describe, expect, it } from 'vitest';
import {
  findTopLevelWord,
  isName,
  isPunct,
  isWord,
  readNumber,
  renderToken,
  renderTokens,
  splitTopLevel,
  SqlParseError,
  tokenize,
  type Token,
} from '../../../src/engines/mysql/tokens';

const w = (value: string): Token => ({ kind: 'word', value });
const p = (value: string): Token => ({ kind: 'punct', value });
const id = (value: string): Token => ({ kind: 'ident', value });
const str = (value: string): Token => ({ kind: 'string', value });

describe('mysql tokens: lexing', () => {
  it('words, identifiers, strings and every punctuation mark; whitespace of any kind separates', () => {
    expect(tokenize('GRANT\tSELECT ,x_1$ ON\r\n`db`.* TO \'u\'@"h" (a)=;')).toEqual([
      w('GRANT'),
      w('SELECT'),
      p(','),
      w('x_1$'),
      w('ON'),
      id('db'),
      p('.'),
      p('*'),
      w('TO'),
      str('u'),
      p('@'),
      str('h'),
      p('('),
      w('a'),
      p(')'),
      p('='),
      p(';'),
    ]);
    expect(tokenize('')).toEqual([]);
  });

  it('doubled quotes inside identifiers and strings; the other quote is literal', () => {
    const unquoted = [id('a`b'), str("c'd"), str('e"f'), str('g"h'), str("i'j"), id('k\'l"m')];
    expect(tokenize('`a``b` \'c\'\'d\' "e""f" \'g"h\' "i\'j" `k\'l"m`')).toEqual(unquoted);
    expect(tokenize("`` ''")).toEqual([id(''), str('')]);
  });

  it('backslash escapes in strings, keeping the backslash of LIKE wildcards', () => {
    expect(tokenize(String.raw`'\0\b\n\r\t\Z\%\_\\\'\"\q'`)).toEqual([str('\0\b\n\r\t\x1a\\%\\_\\\'"q')]);
    // In identifiers a backslash is an ordinary character.
    expect(tokenize('`a\\b`')).toEqual([id('a\\b')]);
  });

  it('refuses what it cannot read, saying where, never echoing the text', () => {
    expect(() => tokenize('`abc')).toThrow(new SqlParseError('unterminated quoted identifier'));
    expect(() => tokenize("'abc")).toThrow(new SqlParseError('unterminated string literal'));
    expect(() => tokenize("'abc\\")).toThrow(new SqlParseError('unterminated string literal'));
    expect(() => tokenize("'a''")).toThrow(new SqlParseError('unterminated string literal'));
    expect(() => tokenize('SELECT # x')).toThrow(new SqlParseError('unexpected character at offset 7'));
    expect(() => tokenize('é')).toThrow(new SqlParseError('unexpected character at offset 0'));
  });
});

describe('mysql tokens: rendering', () => {
  it('quotes with the driver, never splitting identifiers on dots', () => {
    expect(renderToken(id('a.b`c'))).toBe('`a.b``c`');
    expect(renderToken(str("it's"))).toBe("'it\\'s'");
    expect(renderToken(w('SELECT'))).toBe('SELECT');
    expect(renderToken(p('*'))).toBe('*');
  });

  it('glues around dots and @, inside parentheses and before commas; spaces elsewhere', () => {
    expect(
      renderTokens(tokenize("GRANT SELECT (`a`,`b`), INSERT ON `d`.`t` TO 'u'@'%' WITH GRANT OPTION")),
    ).toBe("GRANT SELECT (`a`, `b`), INSERT ON `d`.`t` TO 'u'@'%' WITH GRANT OPTION");
    expect(renderTokens(tokenize('f ( x ) . y @ z'))).toBe('f (x).y@z');
    expect(renderTokens([])).toBe('');
    expect(renderTokens([p(','), w('a')])).toBe(', a');
    // Only punctuation glues: a string or identifier that looks like punctuation does not.
    expect(renderTokens(tokenize("a '.' b `(` c ',' `)` '@' d"))).toBe("a '.' b `(` c ',' `)` '@' d");
  });
});

describe('mysql tokens: structure', () => {
  it('isWord is case-insensitive and only for words; isPunct and isName by kind', () => {
    expect(isWord(w('grant'), 'REVOKE', 'GRANT')).toBe(true);
    expect(isWord(id('GRANT'), 'GRANT')).toBe(false);
    expect(isWord(w('GRANTS'), 'GRANT')).toBe(false);
    expect(isWord(undefined, 'GRANT')).toBe(false);
    expect(isPunct(p('.'), '.')).toBe(true);
    expect(isPunct(p('.'), ',')).toBe(false);
    expect(isPunct(w('.'), '.')).toBe(false);
    expect(isPunct(undefined, '.')).toBe(false);
    expect([w('a'), id('a'), str('a'), p('a'), undefined].map(isName)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it('splits on a separator outside parentheses only', () => {
    const t = tokenize('SELECT (a, b), INSERT, f(g(h, i), j)');
    expect(splitTopLevel(t).map(renderTokens)).toEqual(['SELECT (a, b)', 'INSERT', 'f (g (h, i), j)']);
    expect(splitTopLevel(tokenize('a.b.c'), '.').map(renderTokens)).toEqual(['a', 'b', 'c']);
    expect(splitTopLevel([])).toEqual([[]]);
  });

  it('finds a top-level keyword at or after a position', () => {
    const t = tokenize('GRANT x (TO y) TO z TO w');
    expect(findTopLevelWord(t, ['TO'])).toBe(6);
    expect(findTopLevelWord(t, ['to'.toUpperCase()], 7)).toBe(8);
    expect(findTopLevelWord(t, ['TO'], 9)).toBe(-1);
    expect(findTopLevelWord(t, ['FROM', 'GRANT'])).toBe(0);
    expect(findTopLevelWord(t, ['GRANT'], 1)).toBe(-1);
    expect(findTopLevelWord(tokenize('(a) b ((TO)) TO'), ['TO'])).toBe(9);
  });

  it('reads integers and decimals printed as words and a dot', () => {
    expect(readNumber(tokenize('X 10.000000 Y'), 1)).toEqual({ value: '10.000000', next: 4 });
    expect(readNumber(tokenize('X 10 Y'), 1)).toEqual({ value: '10', next: 2 });
    expect(readNumber(tokenize('10 . x'), 0)).toEqual({ value: '10', next: 1 });
    expect(readNumber(tokenize("10.'5'"), 0)).toEqual({ value: '10', next: 1 });
    expect(readNumber(tokenize('10.5x'), 0)).toEqual({ value: '10', next: 1 });
    expect(readNumber(tokenize('10.a5'), 0)).toEqual({ value: '10', next: 1 });
    expect(readNumber(tokenize('10.'), 0)).toEqual({ value: '10', next: 1 });
    expect(() => readNumber(tokenize('X 1a'), 1)).toThrow(new SqlParseError('expected a number at token 1'));
    expect(() => readNumber(tokenize("'1'"), 0)).toThrow(SqlParseError);
    expect(() => readNumber(tokenize('X a1'), 1)).toThrow(SqlParseError);
    expect(() => readNumber([], 0)).toThrow(SqlParseError);
  });
});
