import { countryCodeSuggestion, isCountryCode, unknownCountryMessage } from '../common/countries.ts';
import { UsageError } from '../common/errors.ts';

/** Option parsers shared by several commands; each refusal names the option. */

export function parseCountry(value: string): string {
  const code = (value.length > 3 ? (countryCodeSuggestion(value) ?? value) : value).toUpperCase();
  if (!isCountryCode(code)) throw new UsageError(`--country: ${unknownCountryMessage([value])}`);
  return code;
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
