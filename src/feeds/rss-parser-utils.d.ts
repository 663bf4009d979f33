// The one internal of rss-parser that src/feeds/parse-xml.ts touches (its snippet maker); the
// package ships no types for lib/.
declare module 'rss-parser/lib/utils.js' {
  const utils: { getSnippet(str: string): string };
  export default utils;
}
