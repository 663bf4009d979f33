import type { Element } from 'domhandler';
import * as DomUtils from 'domutils';
import { parseDocument } from 'htmlparser2';

/** A parsed HTML page with a few lookups (by tag name and attribute), for asserting on pages. */
export class Page {
  readonly root;

  constructor(readonly html: string) {
    this.root = parseDocument(html);
  }

  all(tag: string, where: (el: Element) => boolean = () => true, within: Element | undefined = undefined): Element[] {
    return DomUtils.findAll((el) => el.name === tag && where(el), within ? within.children : this.root.children);
  }

  one(tag: string, where: (el: Element) => boolean = () => true, within?: Element): Element {
    const found = this.all(tag, where, within);
    if (found.length !== 1) throw new Error(`expected one <${tag}>, found ${found.length}`);
    return found[0]!;
  }

  /** The element with this id, whatever its tag, or undefined. */
  byId(id: string): Element | undefined {
    return DomUtils.findOne((el) => DomUtils.getAttributeValue(el, 'id') === id, this.root.children) ?? undefined;
  }

  static text(el: Element): string {
    return DomUtils.textContent(el).replace(/\s+/g, ' ').trim();
  }

  static attr(el: Element, name: string): string | undefined {
    return DomUtils.getAttributeValue(el, name);
  }
}
