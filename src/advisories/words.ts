// Every run of white space becomes one space, as /\s+/g would make it, but only the runs that
// are not one space already are replaced: most are, and a replacement per space cost about
// two thirds of a fingerprint's words.
const NOT_ONE_SPACE = /\s{2,}|[^\S ]/g;

/** The words alone: what a fingerprint compares, so line breaks from markup never matter. */
export function words(text: string): string {
  return text.replace(NOT_ONE_SPACE, ' ').trim();
}
