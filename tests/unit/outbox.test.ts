import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/common/errors.ts';
import { afterFailedSend } from '../../src/db/outbox.ts';

// The retry rule shared by the small outboxes (confirmations, briefings, digests).
const rule = { maxAttempts: 3, retryBaseSeconds: 30, retryMaxSeconds: 3600 };
const now = new Date('2026-03-01T12:00:00Z');
const at = (ms: number) => new Date(now.getTime() + ms);

describe('afterFailedSend', () => {
  it('a temporary provider error with attempts left waits the jittered back-off', () => {
    const err = new AppError('SMTP 451 4.3.0 try again later', 'retryable');
    expect(afterFailedSend(err, 1, rule, now, () => 0)).toEqual({ status: 'pending', error: 'SMTP 451 4.3.0 try again later', nextAttemptAt: at(15_000) });
    expect(afterFailedSend(err, 2, rule, now, () => 1)).toEqual({ status: 'pending', error: 'SMTP 451 4.3.0 try again later', nextAttemptAt: at(60_000) });
  });

  it('the last attempt gives up with the error', () => {
    expect(afterFailedSend(new AppError('SMTP 451', 'retryable'), 3, rule, now)).toEqual({ status: 'failed', error: 'SMTP 451' });
  });

  it('a permanent provider error gives up at once', () => {
    expect(afterFailedSend(new AppError('SMTP 550 no such user', 'permanent'), 1, rule, now)).toEqual({ status: 'failed', error: 'SMTP 550 no such user' });
  });

  it('an unclassified error (the database, a bug) is tried again', () => {
    expect(afterFailedSend(new Error('connection reset'), 1, rule, now, () => 0)).toMatchObject({ status: 'pending', error: 'connection reset' });
  });
});
