import { expect } from 'vitest';

/**
 * Later documents of Germany's and Japan's feeds, derived from the real captures
 * in tests/fixtures/de-aa and tests/fixtures/jp-mofa by the smallest edits that
 * make the change under test (the captures themselves hold no flag change and no
 * later Japanese list). Every edit is spelled out here, so a test's expectation
 * can be read off the edit, not off the code under test.
 */

export const DE_FLAGS = ['warning', 'partialWarning', 'situationWarning', 'situationPartWarning'] as const;
export type DeFlag = (typeof DE_FLAGS)[number];

export interface DeEntry {
  countryCode: string;
  title: string;
  lastModified: number;
  effective: number;
  warning: boolean;
  partialWarning: boolean;
  situationWarning: boolean;
  situationPartWarning: boolean;
}

export interface DeDoc {
  response: Record<string, DeEntry | string[] | number>;
}

export function deEntries(doc: DeDoc): DeEntry[] {
  return Object.values(doc.response).filter((v): v is DeEntry => typeof v === 'object' && !Array.isArray(v));
}

/**
 * A German day with flag changes: `changes` sets each named country's flags to
 * exactly the listed ones; every entry's `lastModified` moves on a day (the
 * churn the real captures show), and the answer is minified as the API serves it.
 */
export function germanDay(text: string, changes: Record<string, DeFlag[]>, options: { milliseconds?: boolean } = {}): string {
  const doc = JSON.parse(text) as DeDoc;
  const seen = new Set<string>();
  for (const e of deEntries(doc)) {
    e.lastModified += 86_400;
    if (options.milliseconds) {
      e.lastModified *= 1000;
      e.effective *= 1000;
    }
    const flags = changes[e.countryCode];
    if (!flags) continue;
    seen.add(e.countryCode);
    for (const f of DE_FLAGS) e[f] = flags.includes(f);
  }
  expect([...seen].sort(), 'every changed country is in the document').toEqual(Object.keys(changes).sort());
  return JSON.stringify(doc);
}

/** The `<mail>` element whose keyCd is `keyCd`, as it stands in the document. */
export function mailOf(xml: string, keyCd: string): string {
  const at = xml.indexOf(`<keyCd>${keyCd}</keyCd>`);
  expect(at, `mail ${keyCd} in the document`).toBeGreaterThan(0);
  const start = xml.lastIndexOf('<mail>', at);
  const end = xml.indexOf('</mail>', at) + '</mail>'.length;
  return xml.slice(start, end);
}

/** The keyCd of every mail, in document order. */
export function keyCds(xml: string): string[] {
  return [...xml.matchAll(/<keyCd>([^<]+)<\/keyCd>/g)].map((m) => m[1]!);
}

/**
 * A later list: `add` mails go on top (newest first, as MOFA lists them), the
 * `drop` mails have left the rolling window; `mailCount` follows.
 */
export function laterList(xml: string, options: { add?: string[]; drop?: string[]; lastModified: string }): string {
  let out = xml;
  for (const keyCd of options.drop ?? []) out = out.replace(new RegExp(`\\s*${escapeRegExp(mailOf(out, keyCd))}`), '');
  const first = out.indexOf('<mail>');
  out = out.slice(0, first) + (options.add ?? []).map((m) => `${m}\n    `).join('') + out.slice(first);
  const count = keyCds(out).length;
  return out.replace(/lastModified="[^"]*"/, `lastModified="${options.lastModified}"`).replace(/mailCount="\d+"/, `mailCount="${count}"`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A copy of a real mail with new fields (keyCd, leaveDate, title, lead, risk flags, countries). */
export function editedMail(
  mail: string,
  edit: { keyCd: string; leaveDate?: string; title?: string; lead?: string; risk?: Partial<Record<1 | 2 | 3 | 4, 0 | 1>>; countries?: string[] },
): string {
  const oldKey = /<keyCd>([^<]+)<\/keyCd>/.exec(mail)![1]!;
  let out = mail.split(oldKey).join(edit.keyCd);
  if (edit.leaveDate) out = out.replace(/<leaveDate>[^<]*<\/leaveDate>/, `<leaveDate>${edit.leaveDate}</leaveDate>`);
  if (edit.title) out = out.replace(/<title>[^<]*<\/title>/, `<title>${edit.title}</title>`);
  if (edit.lead) out = out.replace(/<lead>[\s\S]*?<\/lead>/, `<lead>${edit.lead}</lead>`);
  for (const [n, v] of Object.entries(edit.risk ?? {})) {
    expect(out).toMatch(new RegExp(`<riskLevel${n}>`));
    out = out.replace(new RegExp(`<riskLevel${n}>\\d</riskLevel${n}>`), `<riskLevel${n}>${v}</riskLevel${n}>`);
  }
  if (edit.countries) {
    const areaCd = /<country areaCd="(\d+)">/.exec(out)![1]!;
    out = out.replace(
      /(\s*<country areaCd="\d+">\s*<cd>\d+<\/cd>\s*<\/country>)+/,
      edit.countries.map((c) => `\n        <country areaCd="${areaCd}">\n            <cd>${c}</cd>\n        </country>`).join(''),
    );
  }
  return out;
}
