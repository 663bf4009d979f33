import { ElementType, parseDocument } from 'htmlparser2';
import { BULLET } from './text-blocks.ts';

// The HTML-to-text conversion of html-to-text, as normalize.ts configures it, for the markup
// feeds publish, in a fraction of its time. The text of an item is stored and its words are
// fingerprinted, so this must give the very same string html-to-text gives, or every stored
// advisory would read as changed after an upgrade: it parses with the same htmlparser2 call
// (so the tree is the same, implied end tags and entities included) and walks the tree with
// html-to-text's own rules (block and list line breaks, whitespace collapsing), minus what
// those options never use (word wrap, uppercase, link targets). A document holding markup
// whose layout is more than line breaks — tables (columns padded to width), <pre> (kept
// verbatim) — or any other case this does not model returns undefined, and the caller
// converts it with html-to-text itself. tests/unit/html-text.test.ts holds both to the same
// output on every document of the fixtures and on generated markup.

type Parsed = ReturnType<typeof parseDocument>;
type Node = Parsed['children'][number];
type Element = Extract<Node, { attribs: unknown }>;

/** html-to-text's `whitespaceCharacters` as normalize.ts sets them: U+200B is not a word break. */
const SPACE_RUN = /[ \t\r\n\f]+/g;
/** Whitespace that is not already single spaces. */
const COLLAPSIBLE = /[\t\r\n\f]| {2}/;
/** What html-to-text's lists drop as blank text between items (JavaScript's \s, not the above). */
const BLANK = /^\s*$/;
/** html-to-text's own input limit: longer input is truncated (with a console warning) there. */
const MAX_INPUT_LENGTH = 1 << 24;
const MARKUP = /[<&]/;

/** Thrown at markup this does not model. */
class Unsupported extends Error {}

/** Words and line breaks of one block, as html-to-text's InlineTextBuilder without word wrap. */
class Lines {
  /** Completed lines. */
  readonly done: string[] = [];
  /** The words of the line being built, joined by single spaces ('' when it has none: words are never empty). */
  line = '';
  stashedSpace = false;

  pushWord(word: string): void {
    this.line = this.line === '' ? word : `${this.line} ${word}`;
  }

  concatWord(word: string): void {
    this.line += word;
  }

  startNewLine(n = 1): void {
    this.done.push(this.line);
    for (let i = 1; i < n; i++) this.done.push('');
    this.line = '';
  }

  isEmpty(): boolean {
    return this.done.length === 0 && this.line === '';
  }

  clear(): void {
    this.done.length = 0;
    this.line = '';
  }

  toString(): string {
    return this.done.length === 0 ? this.line : `${this.done.join('\n')}\n${this.line}`;
  }
}

/** A block, a list or a list item being built (html-to-text's stack items). */
class Block {
  readonly lines = new Lines();
  rawText = '';
  stashedLineBreaks = 0;

  constructor(
    readonly next: Block | null,
    public leadingLineBreaks: number,
    /** Set on list items. */
    readonly prefix: string | null = null,
    /** Set on lists: the longest prefix of their items. */
    readonly maxPrefixLength = 0,
  ) {}

  text(): string {
    return this.lines.isEmpty() ? this.rawText : this.rawText + this.lines.toString();
  }

  add(text: string, leadingLineBreaks: number, trailingLineBreaks: number): void {
    const parentText = this.text();
    const lineBreaks = Math.max(this.stashedLineBreaks, leadingLineBreaks);
    this.lines.clear();
    if (parentText) {
      this.rawText = parentText + '\n'.repeat(lineBreaks) + text;
    } else {
      this.rawText = text;
      this.leadingLineBreaks = lineBreaks;
    }
    this.stashedLineBreaks = trailingLineBreaks;
  }
}

class Builder {
  top = new Block(null, 1);

  addInline(str: string): void {
    if (str.length === 0) return;
    const block = this.top;
    // html-to-text adds the words one by one; joined by single spaces they are the same string.
    const spaced = COLLAPSIBLE.test(str) ? str.replace(SPACE_RUN, ' ') : str;
    const leading = spaced.charCodeAt(0) === 32;
    const trailing = spaced.charCodeAt(spaced.length - 1) === 32;
    const words = spaced.slice(leading ? 1 : 0, trailing ? -1 : spaced.length);
    if (block.stashedLineBreaks && words === '') return;
    const lines = block.lines;
    if (block.stashedLineBreaks) lines.startNewLine(block.stashedLineBreaks);
    const previouslyStashedSpace = lines.stashedSpace;
    if (words !== '') {
      if (previouslyStashedSpace || leading) lines.pushWord(words);
      else lines.concatWord(words);
    }
    lines.stashedSpace = (previouslyStashedSpace && words === '') || trailing;
    block.stashedLineBreaks = 0;
  }

  addLineBreak(): void {
    this.top.lines.startNewLine();
  }

  openBlock(leadingLineBreaks: number): void {
    this.top = new Block(this.top, leadingLineBreaks);
  }

  closeBlock(trailingLineBreaks: number, transform?: (text: string) => string): void {
    const block = this.pop();
    const text = block.text();
    block.next!.add(transform ? transform(text) : text, block.leadingLineBreaks, Math.max(block.stashedLineBreaks, trailingLineBreaks));
  }

  openList(leadingLineBreaks: number, maxPrefixLength: number): void {
    this.top = new Block(this.top, leadingLineBreaks, null, maxPrefixLength);
  }

  openListItem(prefix: string): void {
    // A list item's leading line breaks are its list's line breaks between items: 1.
    this.top = new Block(this.top, 1, prefix);
  }

  closeListItem(): void {
    const item = this.pop();
    const list = item.next!;
    const prefix = item.prefix ?? '';
    const prefixLength = Math.max(prefix.length, list.maxPrefixLength);
    const text = prefix.padEnd(prefixLength) + item.text().replace(/\n/g, `\n${' '.repeat(prefixLength)}`);
    list.add(text, item.leadingLineBreaks, Math.max(item.stashedLineBreaks, 1));
  }

  closeList(trailingLineBreaks: number): void {
    const list = this.pop();
    const text = list.text();
    if (text) list.next!.add(text, list.leadingLineBreaks, trailingLineBreaks);
  }

  private pop(): Block {
    const block = this.top;
    this.top = block.next!;
    return block;
  }
}

/** Line breaks before and after a block element (html-to-text's defaults for these selectors). */
const BLOCKS = new Map<string, number>([
  ['p', 2],
  ['h1', 3],
  ['h2', 3],
  ['h3', 3],
  ['h4', 2],
  ['h5', 2],
  ['h6', 2],
  ['article', 1],
  ['aside', 1],
  ['div', 1],
  ['footer', 1],
  ['form', 1],
  ['header', 1],
  ['main', 1],
  ['nav', 1],
  ['section', 1],
]);

/** Without the one space (at most) at either end of text whose white space is single spaces. */
function trimSpaces(text: string): string {
  const start = text.charCodeAt(0) === 32 ? 1 : 0;
  const end = text.length > start && text.charCodeAt(text.length - 1) === 32 ? text.length - 1 : text.length;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function trimNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === '\n') start++;
  while (end > start && text[end - 1] === '\n') end--;
  return text.substring(start, end);
}

const quote = (text: string) =>
  trimNewlines(text)
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');

function walk(nodes: readonly Node[], builder: Builder): void {
  for (const node of nodes) {
    if (node.type === ElementType.Text) builder.addInline(node.data);
    else if (node.type === ElementType.Tag) element(node, builder);
    // Comments, directives, <script> and <style> (their own node types) give nothing.
  }
}

function element(elem: Element, builder: Builder): void {
  const name = elem.name;
  const block = BLOCKS.get(name);
  if (block !== undefined) {
    // Paragraphs and h4–h6 close with 2 line breaks like they open; h1–h3 open with 3, close with 2.
    builder.openBlock(block);
    walk(elem.children, builder);
    builder.closeBlock(block === 3 ? 2 : block);
    return;
  }
  switch (name) {
    case 'br':
      builder.addLineBreak();
      return;
    case 'img':
      return;
    case 'ul':
      list(elem, builder, () => BULLET);
      return;
    case 'ol': {
      const { start, type } = elem.attribs;
      if ((type !== undefined && type !== '1') || (start !== undefined && !/^[0-9]{1,6}$/.test(start))) throw new Unsupported();
      let next = start === undefined ? 1 : Number(start);
      list(elem, builder, () => ` ${next++}. `);
      return;
    }
    case 'blockquote':
      builder.openBlock(2);
      walk(elem.children, builder);
      builder.closeBlock(2, quote);
      return;
    case 'hr':
      builder.openBlock(2);
      builder.addInline('-'.repeat(40));
      builder.closeBlock(2);
      return;
    case 'table':
    case 'pre':
      throw new Unsupported();
    default:
      // Inline: its words join the surrounding text (links keep their words, not their targets).
      walk(elem.children, builder);
  }
}

function list(elem: Element, builder: Builder, nextPrefix: () => string): void {
  const nested = (elem.parent as Element | null)?.name === 'li';
  let maxPrefixLength = 0;
  const items: { node: Node; prefix: string }[] = [];
  for (const node of elem.children) {
    if (node.type === ElementType.Text && BLANK.test(node.data)) continue;
    let prefix = '';
    if ((node as Element).name === 'li') {
      prefix = nested ? nextPrefix().trimStart() : nextPrefix();
      if (prefix.length > maxPrefixLength) maxPrefixLength = prefix.length;
    }
    items.push({ node, prefix });
  }
  if (items.length === 0) return;
  builder.openList(nested ? 1 : 2, maxPrefixLength);
  for (const { node, prefix } of items) {
    builder.openListItem(prefix);
    walk([node], builder);
    builder.closeListItem();
  }
  builder.closeList(nested ? 1 : 2);
}

/** The <body> elements html-to-text would convert alone (its `baseElements`), in document order. */
function bodies(nodes: readonly Node[], found: Element[]): Element[] {
  for (const node of nodes) {
    if (node.type !== ElementType.Tag) continue;
    if (node.name === 'body') found.push(node);
    else bodies(node.children, found);
  }
  return found;
}

/**
 * What html-to-text (compiled with normalize.ts's options) returns for `html`, or undefined
 * when the document holds markup this does not model (the caller then asks html-to-text).
 */
export function htmlToRawText(html: string): string | undefined {
  // Without '<' or '&' there is nothing to parse: the document is one text node, its words
  // joined by single spaces (most titles and categories, whose entities XML decoding took).
  if (!MARKUP.test(html)) return trimSpaces(COLLAPSIBLE.test(html) ? html.replace(SPACE_RUN, ' ') : html);
  if (html.length > MAX_INPUT_LENGTH) return undefined;
  const document = parseDocument(html, { decodeEntities: true });
  const builder = new Builder();
  try {
    const found = bodies(document.children, []);
    // A <body> is an inline element like any other once picked.
    walk(found.length > 0 ? found : document.children, builder);
  } catch {
    // Unsupported markup, or nesting deep enough to exhaust the stack: html-to-text decides.
    return undefined;
  }
  return builder.top.text();
}
