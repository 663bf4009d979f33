import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import * as z from 'zod';

/**
 * Wording of configuration problems so that an admin goes straight to the place: a list entry
 * by its id and its 1-based position and line (not `feeds[8]`, which reads as the 8th), a
 * YAML error where the unclosed construct opens, a misspelt key with the key meant.
 * Only a refused file gets here, so the cost of `yaml` (positions) does not touch a valid start.
 */

// `yaml` is loaded only when a file needs its error messages or positions.
const requireCjs = createRequire(import.meta.url);
const yamlModule = () => requireCjs('yaml') as typeof Yaml;

export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/** Edits (insert, delete, replace, swap two neighbours) from a to b. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The known key an unknown one is most likely a typo of; none when nothing is that close. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  // One edit in a short key already makes another word ("id" → "url" is two); two in a longer one.
  const limit = key.length <= 4 ? 1 : 2;
  let best: { key: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d <= limit && (!best || d < best.d)) best = { key: k, d };
  }
  return best?.key;
}

/** The keys the object at `path` of a document accepts, following the schema through lists and defaults. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: z.ZodType = schema;
  let rest = [...path];
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else if (rest.length === 0) return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
    else if (s instanceof z.ZodArray && typeof rest[0] === 'number') [s, rest] = [s.element as z.ZodType, rest.slice(1)];
    else if (s instanceof z.ZodObject && typeof rest[0] === 'string' && rest[0] in s.shape) [s, rest] = [s.shape[rest[0]] as z.ZodType, rest.slice(1)];
    else return undefined;
  }
}

/** zod's `Unrecognized key: "urgencyy"`, with the key probably meant. */
function unrecognizedKeysMessage(issue: z.core.$ZodIssueUnrecognizedKeys, schema: z.ZodType): string {
  const known = keysAt(schema, issue.path) ?? [];
  const hints = issue.keys.flatMap((k) => {
    const near = nearestKey(k, known);
    return near ? [{ k, near }] : [];
  });
  if (hints.length === 0) return issue.message;
  if (issue.keys.length === 1) return `${issue.message} (did you mean "${hints[0]!.near}"?)`;
  return `${issue.message} (did you mean ${hints.map((h) => `"${h.near}" for "${h.k}"`).join(', ')}?)`;
}

/** The singular of each configuration list whose entries are named in problems. */
const ENTRY_NOUN: Readonly<Record<string, string>> = { feeds: 'feed', webhooks: 'webhook' };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Words a problem at `path` of a parsed file: `feeds.yaml: feed "my-feed" (entry 9, line 73): url: …`,
 * or `feed entry 9 (line 73)` for an entry without a usable id. `text` is the file as read
 * (for lines), `raw` what it parsed to (for ids).
 */
export function problemWording(file: string, text: string, raw: unknown): (path: readonly PropertyKey[], message: string) => string {
  let lines: { doc: Yaml.Document; counter: Yaml.LineCounter } | undefined;
  const lineOf = (at: readonly PropertyKey[]): number | undefined => {
    if (!lines) {
      const { parseDocument, LineCounter } = yamlModule();
      const counter = new LineCounter();
      lines = { doc: parseDocument(text, { lineCounter: counter }), counter };
    }
    const node: unknown = lines.doc.getIn(at, true);
    const range = isRecord(node) && Array.isArray(node.range) && typeof node.range[0] === 'number' ? node.range[0] : undefined;
    return range === undefined ? undefined : lines.counter.linePos(range).line;
  };
  return (path, message) => {
    const [list, index] = path;
    const noun = typeof list === 'string' ? ENTRY_NOUN[list] : undefined;
    let where = formatPath(path);
    if (noun && typeof list === 'string' && typeof index === 'number') {
      const entries = isRecord(raw) ? raw[list] : undefined;
      const entry: unknown = Array.isArray(entries) ? entries[index] : undefined;
      const id = isRecord(entry) && typeof entry.id === 'string' && entry.id !== '' ? entry.id : undefined;
      const line = lineOf([list, index]);
      const label =
        id === undefined
          ? `${noun} entry ${index + 1}${line ? ` (line ${line})` : ''}`
          : `${noun} ${JSON.stringify(id)} (entry ${index + 1}${line ? `, line ${line}` : ''})`;
      const rest = formatPath(path.slice(2));
      where = rest ? `${label}: ${rest}` : label;
    }
    return `${file}: ${where ? `${where}: ` : ''}${message}`;
  };
}

/** Every zod issue of a refused file as one line (see problemWording). */
export function zodProblems(file: string, text: string, raw: unknown, schema: z.ZodType, error: z.ZodError): string[] {
  const word = problemWording(file, text, raw);
  return error.issues.map((i) => word(i.path, i.code === 'unrecognized_keys' ? unrecognizedKeysMessage(i, schema) : i.message));
}

/**
 * `yaml`'s verdict on a file js-yaml refused: its value, or the problems. An unclosed `[`, `{`
 * or quote is reported by `yaml` where it gave up — often the end of the file, lines after the
 * mistake — so the place where it opens is named first.
 */
export function yamlVerdict(file: string, text: string): { value: unknown } | { problems: string[] } {
  const { parseDocument, LineCounter, visit, isCollection, isScalar, isSeq } = yamlModule();
  const counter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, lineCounter: counter });
  // An empty (or comments-only) file is an empty mapping, not a missing file.
  if (doc.errors.length === 0) return { value: doc.toJS() ?? {} };
  const unclosed: { kind: 'seq' | 'map' | 'quote'; start: number; end: number }[] = [];
  visit(doc, (_key, node) => {
    if (isCollection(node) && node.flow && node.range) unclosed.push({ kind: isSeq(node) ? 'seq' : 'map', start: node.range[0], end: node.range[1] });
    else if (isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && node.range)
      unclosed.push({ kind: 'quote', start: node.range[0], end: node.range[1] });
  });
  const problems = doc.errors.map((e) => {
    // prettyErrors puts the offending lines after the first one, which ends in a colon
    // that would point at nothing here.
    const message = (e.message.split('\n')[0] ?? '').replace(/:\s*$/, '');
    const kind = /flow sequence/i.test(message) ? 'seq' : /flow map/i.test(message) ? 'map' : /quote/i.test(message) ? 'quote' : undefined;
    const opened = kind && unclosed.find((u) => u.kind === kind && u.end === e.pos[0]);
    const stopped = counter.linePos(e.pos[0]);
    const start = opened ? counter.linePos(opened.start) : undefined;
    if (!start || start.line === stopped.line) return `${file}: invalid YAML: ${message}`;
    const atEnd = text.slice(e.pos[0]).trim() === '' ? ', the end of the file' : '';
    const located = message.replace(/ at line \d+, column \d+$/, '');
    return `${file}: invalid YAML: ${located} at line ${start.line}, column ${start.col} (where it opens; still open at line ${stopped.line}, column ${stopped.col}${atEnd})`;
  });
  return { problems };
}
