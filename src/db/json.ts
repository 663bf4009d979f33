/**
 * Rows as one jsonb parameter, for `jsonb_to_recordset`: a statement's many
 * rows travel as one value instead of a bind parameter per field.
 * PostgreSQL refuses JSON that holds a lone UTF-16 surrogate (JSON.stringify
 * writes one as a `\\udxxx` escape; a string cut in the middle of a pair has
 * one), where a text parameter stores U+FFFD for it: such strings are made
 * well-formed first, to the same U+FFFD, so one odd character in an error
 * message or a title cannot fail the whole batch's statement.
 */
export function jsonParameter(rows: readonly object[]): string {
  const json = JSON.stringify(rows);
  if (!json.includes('\\ud')) return json;
  return JSON.stringify(rows, (_key, value: unknown) => (typeof value === 'string' ? (value as string & { toWellFormed(): string }).toWellFormed() : value));
}
