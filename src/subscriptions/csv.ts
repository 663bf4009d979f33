import { parse } from 'csv-parse/sync';
import { InputError, parseSubscriber, type SubscriberInput } from './validate.ts';

/**
 * `subscribers import FILE.csv`: header `email,phone,countries,min_level,keywords,channels`
 * (only `email` required; list fields separated by `;` or spaces), plus the optional
 * preference columns `email_frequency,sms,quiet_hours,timezone`. Every row is
 * validated on its own; refused rows are reported with their line number and
 * the reason, and never stored.
 */
export interface CsvImport {
  rows: { line: number; input: SubscriberInput }[];
  refused: { line: number; reason: string }[];
}

const COLUMNS = ['email', 'phone', 'countries', 'min_level', 'keywords', 'channels', 'feeds', 'email_frequency', 'sms', 'quiet_hours', 'timezone'];

export function parseSubscriberCsv(text: string, knownFeeds: ReadonlySet<string>): CsvImport {
  let records: { record: Record<string, string>; line: number }[];
  try {
    // Line ends normalised first: csv-parse counts a CRLF inside a quoted cell as two lines.
    records = (
      parse(text.replace(/\r\n?/g, '\n'), {
        columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
        skip_empty_lines: true,
        trim: true,
        bom: true,
        relax_column_count: true,
        info: true,
        raw: true,
      }) as { record: Record<string, string>; info: { lines: number }; raw: string }[]
    ).map((r) => ({
      record: r.record,
      // `info.lines` is where the record ends; report where it starts (a quoted cell may span lines).
      line: r.info.lines - (r.raw.replace(/^\n+/, '').replace(/\n$/, '').match(/\n/g)?.length ?? 0),
    }));
  } catch (e) {
    throw new InputError('csv', (e as Error).message);
  }
  const header = Object.keys(records[0]?.record ?? {});
  if (records.length > 0 && !header.includes('email')) throw new InputError('csv', 'the header row has no "email" column');
  const unknownColumns = header.filter((h) => !COLUMNS.includes(h));
  if (unknownColumns.length) throw new InputError('csv', `unknown column${unknownColumns.length > 1 ? 's' : ''}: ${unknownColumns.join(', ')}`);

  const out: CsvImport = { rows: [], refused: [] };
  const seen = new Map<string, number>();
  for (const { record, line } of records) {
    try {
      const input = parseSubscriber(
        {
          email: record.email,
          phone: record.phone || undefined,
          countries: record.countries || 'all',
          feeds: record.feeds || undefined,
          minLevel: record.min_level || undefined,
          keywords: record.keywords || undefined,
          // A row with a phone and no channels gets both: that's why the number is there.
          channels: record.channels || (record.phone ? 'email;sms' : 'email'),
          emailFrequency: record.email_frequency || undefined,
          sms: record.sms || undefined,
          quietHours: record.quiet_hours || undefined,
          timezone: record.timezone || undefined,
        },
        knownFeeds,
      );
      const dup = seen.get(input.email);
      if (dup !== undefined) {
        out.refused.push({ line, reason: `email: ${input.email} already appears on line ${dup}` });
        continue;
      }
      seen.set(input.email, line);
      out.rows.push({ line, input });
    } catch (e) {
      out.refused.push({ line, reason: e instanceof InputError ? e.message : String(e) });
    }
  }
  return out;
}
