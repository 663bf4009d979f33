/**
 * The structure of stored advisory text, for renderers that show it as more than
 * plain text. Stored text is what html-text.ts (html-to-text's rules) made of a
 * feed's HTML, then tidied (normalize.ts): blocks (<p>, headings, lists) are
 * separated by a blank line, <br> is a line break, and each <li> of a <ul> is a
 * line starting with BULLET (its own <br>s put the rest of it on the lines after,
 * without one). Indentation is gone (tidying trims every line), so
 * a nested list reads as items of its own; the numbers of an <ol> stay in its
 * lines' text ("1. …"), which read right as lines.
 */

/** What html-text.ts and html-to-text (normalize.ts's options) put before each item of a <ul>. */
export const BULLET = '• ';

export type TextBlock =
  /** Lines of one block, separated by line breaks (<br>) in the source. */
  | { kind: 'paragraph'; lines: string[] }
  /** A run of bulleted items, without their bullets; each item is its lines (a <br> in a <li> breaks it). */
  | { kind: 'list'; items: string[][] };

const BULLET_MARK = BULLET.trim();

/**
 * `text`'s paragraphs and bullet lists, in order. A line right after an item is
 * more of that item: html-to-text writes `<li>a<br>b</li>` as "• a", "b", and
 * ends a <ul> with a blank line, so only a blank line ends a list. A list goes
 * on across blank lines between its items (a <li> holding a <p> leaves one);
 * anything else blank-line separated is a new paragraph. Empty items and lines
 * are dropped.
 */
export function textBlocks(text: string): TextBlock[] {
  const blocks: TextBlock[] = [];
  // The block that lines go on; a list is kept without items until one comes.
  let list: { kind: 'list'; items: string[][] } | undefined;
  // The item that lines go on until a blank line; it joins the list with its first line.
  let item: string[] | undefined;
  let paragraph: { kind: 'paragraph'; lines: string[] } | undefined;
  const addToItem = (open: string[], line: string) => {
    if (line === '') return;
    if (open.length === 0) {
      if (!list) {
        list = { kind: 'list', items: [] };
        blocks.push(list);
      }
      list.items.push(open);
    }
    open.push(line);
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') {
      // A paragraph and an item end at a blank line; a list only at a line after it that is not an item.
      paragraph = undefined;
      item = undefined;
    } else if (line.startsWith(BULLET_MARK)) {
      paragraph = undefined;
      item = [];
      addToItem(item, line.slice(BULLET_MARK.length).trim());
    } else if (item) {
      addToItem(item, line);
    } else {
      list = undefined;
      if (!paragraph) {
        paragraph = { kind: 'paragraph', lines: [] };
        blocks.push(paragraph);
      }
      paragraph.lines.push(line);
    }
  }
  return blocks;
}
