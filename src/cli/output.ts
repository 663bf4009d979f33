/** Rendering of listings: aligned text tables for people, JSON arrays for scripts. */

export type Cell = string | number | boolean | Date | null | undefined | readonly string[];

function cellText(v: Cell): string {
  if (v === null || v === undefined) return '-';
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (Array.isArray(v)) return v.length ? v.join(',') : '-';
  return String(v);
}

export function formatTable(rows: readonly Record<string, Cell>[], columns: readonly string[], options: { maxWidth?: number } = {}): string {
  if (rows.length === 0) return '(none)';
  const max = options.maxWidth ?? 60;
  const text = rows.map((r) =>
    columns.map((c) => {
      const t = cellText(r[c]).replace(/\s+/g, ' ');
      return t.length > max ? `${t.slice(0, max - 1)}…` : t;
    }),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...text.map(line)].join('\n');
}

/** JSON with dates as ISO strings, one array. */
export function formatJson(rows: readonly unknown[]): string {
  return JSON.stringify(rows, null, 2);
}

/** A listing command's output: `--json` for scripts, otherwise the table with these columns. */
export function printListing(out: (text: string) => void, json: boolean | undefined, rows: Record<string, Cell>[], columns: string[]): void {
  out(json ? formatJson(rows) : formatTable(rows, columns));
}
