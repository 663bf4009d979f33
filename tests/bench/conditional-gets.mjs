// The floor of bench:commands' all-304 cycle: a bare Node script that sends one
// conditional GET per feed (If-None-Match with the ETag it was given) over a keep-alive
// pool, checks that every answer is 304, and exits — no configuration, no database, no
// command line. What any Node program polling these feeds pays at the least.
// Usage: node conditional-gets.mjs <file.json: [{ "url": …, "etag": … }, …]> [connections]
import { readFileSync } from 'node:fs';
import http from 'node:http';

const feeds = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const connections = Number(process.argv[3] ?? 8);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
let next = 0;
let notModified = 0;
const get = (feed) =>
  new Promise((resolve, reject) => {
    const req = http.get(feed.url, { agent, headers: { 'if-none-match': feed.etag } }, (res) => {
      if (res.statusCode === 304) notModified++;
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (next < feeds.length) await get(feeds[next++]);
  }),
);
agent.destroy();
if (notModified !== feeds.length) {
  console.error(`${notModified} of ${feeds.length} answered 304`);
  process.exitCode = 1;
}
