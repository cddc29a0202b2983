import { describe, expect, it } from 'vitest';
import { transactionsBehind } from '../../../src/engines/mysql/replicas';

describe('transactionsBehind (how far a MariaDB replica is, for status and errors)', () => {
  it('counts per domain the primary sequence number minus the replica one', () => {
    expect(transactionsBehind('0-1-120', '0-1-123')).toBe(3);
    expect(transactionsBehind('0-1-120,1-2-7', '0-1-121, 1-2-9')).toBe(3);
  });

  it('a domain the replica has never applied counts from zero; caught up or ahead is zero', () => {
    expect(transactionsBehind('', '0-1-5')).toBe(5);
    expect(transactionsBehind('0-1-5', '0-1-5,2-1-4')).toBe(4);
    expect(transactionsBehind('0-1-9', '0-1-5')).toBe(0);
  });
});
