#!/usr/bin/env -S node --max-old-space-size=512
// The flag above (`npm start` runs this file, so it is set in one place): with no limit of
// its own, V8 sizes the old generation from the machine's memory and lets a long
// send pile up ~100 MB of garbage before its first full collection (README
// "Benchmarks", bench:e2e); 512 MB is over ten times what a service holds live.
// `node --max-old-space-size=N src/cli/bin.mjs …` chooses another.
// Runs the compiled JavaScript in dist/ (built by `npm ci` through `prepare`, or
// `npm run build`) when it is up to date with the sources; otherwise the TypeScript
// sources directly through tsx, so a fresh clone works with no build and an edited
// checkout never runs stale code — it only starts slower.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compiledEntry } from './compiled.mjs';

const entry = compiledEntry(fileURLToPath(new URL('../../', import.meta.url)));
let main;
if (entry) {
  ({ main } = await import(pathToFileURL(entry).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
process.exitCode = await main(process.argv.slice(2), process.env);
// The command is over: whatever handle might still be open (a driver's idle
// socket, a library's timer) must not keep the process alive after its answer,
// nor make a failed `start` linger. Unreferenced, so a clean exit is not delayed.
setTimeout(() => process.exit(), 1000).unref();
