#!/usr/bin/env node
// Compiles the TypeScript sources to JavaScript in dist/ so the command line starts
// without a TypeScript loader (tsx transpiles every module on every start, which
// dominates a one-shot command's run time). `npm ci` / `npm install` run this through
// `prepare`; the bin falls back to the sources whenever dist/ is missing or older than
// them (see src/cli/compiled.mjs), so a stale build can never run.
//
// Layout: one ES-module bundle split at dynamic imports, so a command loads only what it
// uses, and the migrations as separate files beside it (the migrator reads them from a
// folder). Everything sits flat in dist/ so any chunk finds `./migrations/` next to itself.
//
// Packages stay external (loaded from node_modules) except a few pure-JavaScript ones that
// every command, or `config check`, loads: Node's ES-module loader pays per file, and zod
// alone is dozens of files (about 0.3 s of CPU to load, a third of that as one file);
// kysely is hundreds, and pg (every database command) dozens: bundled, a one-feed `poll`
// takes about 0.15 s less CPU. pino (the logger of every command that opens the database)
// and i18n-iso-countries (the configuration's country codes) each save a few ms more, as do
// rss-parser, xml2js and htmlparser2 (the first document a poll parses: htmlparser2 alone
// is ~12 ms less) and nodemailer (dozens of files, about 20 ms of CPU at the first email).
// (pg's optional native binding stays out. pino's transports, which load worker files by
// path, are not used.)
// `yaml` stays out: config files are read with js-yaml, and `yaml` only words their errors.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');
const startedAt = Date.now();

const common = { platform: 'node', format: 'esm', target: 'node20.19', logLevel: 'warning', absWorkingDir: root };
const BUNDLED = new Set([
  'zod',
  'js-yaml',
  'commander',
  'pg',
  'kysely',
  'pino',
  'i18n-iso-countries',
  'nodemailer',
  'rss-parser',
  'xml2js',
  'htmlparser2',
  'diff',
]);
const { dependencies } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const external = Object.keys(dependencies)
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`])
  .concat(['pg-native']);

// pg, bundled, touches a global that makes Node load its internal copy of undici (fetch,
// WebSocket: about 0.1 s of CPU) in every command that opens the database: it constructs a
// fetch `Response` to tell Node from Cloudflare Workers when it loads. We run on Node only:
// that test is cut.
const NODE_ONLY = [{ file: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/, from: '= getStreamFuncs()', to: '= getNodejsStreamFuncs()' }];
const nodeOnly = {
  name: 'node-only',
  setup(b) {
    for (const { file, from, to } of NODE_ONLY) {
      b.onLoad({ filter: file }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        const patched = text.replace(from, to);
        if (patched === text) throw new Error(`${args.path} changed: update NODE_ONLY in scripts/build.mjs`);
        return { contents: patched, loader: 'js' };
      });
    }
  },
};

async function compile() {
  rmSync(out, { recursive: true, force: true });
  const bundle = await build({
    ...common,
    entryPoints: ['src/cli/main.ts'],
    bundle: true,
    splitting: true,
    external,
    // Bundled CommonJS packages (commander) call require() for Node's own modules.
    banner: { js: "import { createRequire as __aaCreateRequire } from 'node:module'; const require = __aaCreateRequire(import.meta.url);" },
    outdir: out,
    chunkNames: '[name]-[hash]',
    metafile: true,
    plugins: [nodeOnly],
  });
  const migrations = readdirSync(path.join(root, 'migrations')).filter((f) => f.endsWith('.ts'));
  // Bundled with kysely like the main bundle, so a migration's `sql` and the migrator's
  // database object come from one copy of kysely (each file is loaded only when it runs).
  await build({ ...common, entryPoints: migrations.map((f) => `migrations/${f}`), bundle: true, external, outdir: path.join(out, 'migrations') });
  // What the freshness check compares against: every source file that went into the
  // build, and the migrations folder itself (a migration added later changes its mtime).
  const inputs = [
    ...Object.keys(bundle.metafile.inputs).filter((f) => !f.startsWith('node_modules/')),
    ...migrations.map((f) => `migrations/${f}`),
    'migrations',
    'package-lock.json',
  ];
  writeFileSync(path.join(out, 'build-info.json'), `${JSON.stringify({ startedAt, inputs }, null, 1)}\n`);
}

await compile();
if (!process.argv.includes('--quiet')) console.log(`built dist/ in ${Date.now() - startedAt} ms`);
