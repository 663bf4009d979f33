import { describe, expect, it } from 'vitest';
import { createLogger, type ErrorDetail } from '../../src/common/logger.ts';
import { FeedFetchError } from '../../src/feeds/fetch.ts';

function logged(detail: ErrorDetail, err: unknown): Record<string, unknown> {
  const lines: string[] = [];
  createLogger('warn', { write: (line) => lines.push(line) }, detail).warn({ err }, 'poll failed');
  expect(lines).toHaveLength(1);
  return (JSON.parse(lines[0]!) as { err: Record<string, unknown> }).err;
}

const cause = Object.assign(new Error('getaddrinfo ENOTFOUND ru.usembassy.gov'), { code: 'ENOTFOUND', rejected: ['victim@example.com'] });
const fetchError = () => new FeedFetchError('network error: getaddrinfo ENOTFOUND ru.usembassy.gov', 'network', 'retryable', {}, { cause });

describe('logged errors', () => {
  it('the service: the message once, the cause nested with its own message and stack', () => {
    const err = logged('full', fetchError());
    expect(err).toMatchObject({ type: 'FeedFetchError', message: 'network error: getaddrinfo ENOTFOUND ru.usembassy.gov', kind: 'network' });
    expect(err.stack).toMatch(/^FeedFetchError: network error/);
    expect(err.cause).toMatchObject({ type: 'Error', message: 'getaddrinfo ENOTFOUND ru.usembassy.gov', code: 'ENOTFOUND' });
    expect((err.cause as { stack: string }).stack).toMatch(/^Error: getaddrinfo/);
    // A cause's other fields (a provider's envelope) stay out of the logs.
    expect(Object.keys(err.cause as object).sort()).toEqual(['code', 'message', 'stack', 'type']);
  });

  it('a one-shot command: a classified error is its class, kind and message, without a stack', () => {
    expect(logged('brief', fetchError())).toEqual({
      type: 'FeedFetchError',
      message: 'network error: getaddrinfo ENOTFOUND ru.usembassy.gov',
      classification: 'retryable',
      kind: 'network',
      details: {},
    });
  });

  it('a one-shot command: an unexpected error keeps its stack and its cause', () => {
    const err = logged('brief', new TypeError('x is undefined', { cause: new Error('inner') }));
    expect(err).toMatchObject({ type: 'TypeError', message: 'x is undefined', cause: { message: 'inner' } });
    expect(err.stack).toMatch(/^TypeError: x is undefined\n\s+at /);
  });
});
