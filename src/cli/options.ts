import { UsageError } from '../common/errors.ts';

/** Option parsers shared by several commands; each refusal names the option. */

export function parseCountry(value: string): string {
  if (!/^[A-Za-z]{2}$/.test(value)) throw new UsageError(`--country: "${value}" is not an ISO 3166-1 alpha-2 code`);
  return value.toUpperCase();
}

export function parseSince(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--since: "${value}" is not an ISO date-time`);
  return d;
}

/** Collects a repeatable option (`--feed a --feed b`) into a list. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}
