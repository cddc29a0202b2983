/**
 * A small lexer for the account-management statements MySQL/MariaDB print
 * (SHOW GRANTS, SHOW CREATE USER). We never edit those lines as text: they
 * are split into tokens (bare words, `identifiers`, 'strings', punctuation),
 * inspected structurally, and re-rendered with the driver's own quoting.
 * A user name that also appears as a database name, or that holds quotes,
 * backticks, `@` or `;`, therefore cannot be confused with the grantee.
 */
import { escape, escapeId } from 'mysql2/promise';

export type TokenKind = 'word' | 'ident' | 'string' | 'punct';

export interface Token {
  kind: TokenKind;
  /** Decoded value: identifier/string contents without quotes; words as written. */
  value: string;
}

/** Server output we cannot read structurally; never carries the text (it may hold a hash). */
export class SqlParseError extends Error {}

const PUNCTUATION = new Set(['.', ',', '(', ')', '@', '*', '=', ';']);
const WORD = /[A-Za-z0-9_$]/;

const BACKSLASH_ESCAPES: Record<string, string> = {
  '0': '\0',
  b: '\b',
  n: '\n',
  r: '\r',
  t: '\t',
  Z: '\x1a',
  // MySQL keeps the backslash in \% and \_ (LIKE wildcards).
  '%': '\\%',
  _: '\\_',
};

export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '`') {
      let value = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw new SqlParseError('unterminated quoted identifier');
        if (sql[i] === '`') {
          if (sql[i + 1] === '`') {
            value += '`';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += sql[i];
        i++;
      }
      tokens.push({ kind: 'ident', value });
    } else if (ch === "'" || ch === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw new SqlParseError('unterminated string literal');
        const c = sql[i]!;
        if (c === '\\') {
          if (i + 1 >= sql.length) throw new SqlParseError('unterminated string literal');
          const next = sql[i + 1]!;
          value += BACKSLASH_ESCAPES[next] ?? next;
          i += 2;
        } else if (c === ch) {
          if (sql[i + 1] === ch) {
            value += ch;
            i += 2;
            continue;
          }
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      tokens.push({ kind: 'string', value });
    } else if (WORD.test(ch)) {
      let j = i;
      while (j < sql.length && WORD.test(sql[j]!)) j++;
      tokens.push({ kind: 'word', value: sql.slice(i, j) });
      i = j;
    } else if (PUNCTUATION.has(ch)) {
      tokens.push({ kind: 'punct', value: ch });
      i++;
    } else {
      throw new SqlParseError(`unexpected character at offset ${i}`);
    }
  }
  return tokens;
}

/** Renders one token with the driver's quoting (identifiers are never split on dots). */
export function renderToken(t: Token): string {
  switch (t.kind) {
    case 'ident':
      return escapeId(t.value, true);
    case 'string':
      return escape(t.value);
    default:
      return t.value;
  }
}

/** Renders tokens back to SQL: no spaces around `.` and `@`, none inside parentheses or before commas. */
export function renderTokens(tokens: readonly Token[]): string {
  let out = '';
  let prev: Token | undefined;
  for (const t of tokens) {
    const glue =
      prev === undefined ||
      (prev.kind === 'punct' && ['.', '@', '('].includes(prev.value)) ||
      (t.kind === 'punct' && ['.', '@', ')', ','].includes(t.value));
    out += (glue ? '' : ' ') + renderToken(t);
    prev = t;
  }
  return out;
}

export function isWord(t: Token | undefined, ...words: string[]): boolean {
  return t?.kind === 'word' && words.includes(t.value.toUpperCase());
}

export function isPunct(t: Token | undefined, value: string): boolean {
  return t?.kind === 'punct' && t.value === value;
}

/** A name position: `ident`, 'string' or a bare word. */
export function isName(t: Token | undefined): t is Token {
  return t !== undefined && (t.kind === 'ident' || t.kind === 'string' || t.kind === 'word');
}

/** Splits on a punctuation mark outside parentheses. */
export function splitTopLevel(tokens: readonly Token[], separator = ','): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (isPunct(t, '(')) depth++;
    if (isPunct(t, ')')) depth--;
    if (depth === 0 && isPunct(t, separator)) parts.push([]);
    else parts[parts.length - 1]!.push(t);
  }
  return parts;
}

/** Index of the first bare keyword among `words` outside parentheses, at or after `from`; -1 if none. */
export function findTopLevelWord(tokens: readonly Token[], words: string[], from = 0): number {
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (isPunct(t, '(')) depth++;
    else if (isPunct(t, ')')) depth--;
    else if (depth === 0 && isWord(t, ...words)) return i;
  }
  return -1;
}

/** A number printed as words and dots (e.g. `10.000000`) starting at `i`; returns it and the next index. */
export function readNumber(tokens: readonly Token[], i: number): { value: string; next: number } {
  const first = tokens[i];
  if (!first || first.kind !== 'word' || !/^[0-9]+$/.test(first.value)) {
    throw new SqlParseError(`expected a number at token ${i}`);
  }
  const frac = tokens[i + 2];
  if (isPunct(tokens[i + 1], '.') && frac?.kind === 'word' && /^[0-9]+$/.test(frac.value)) {
    return { value: `${first.value}.${frac.value}`, next: i + 3 };
  }
  return { value: first.value, next: i + 1 };
}
