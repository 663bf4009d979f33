import { defineConfig } from 'vitest/config';

// The integration suite runs twice when a real PostgreSQL is available
// (TEST_DATABASE_URL, set by .ci/run): once on embedded PGlite, once on the server.
const integration = ['tests/integration/**/*.test.ts'];
// Files whose subject is not the database run in the pglite project only: the
// command line's refusals (decided before a database is opened) and the browser
// walk-through (the SQL under its pages runs on both databases in web.test.ts), and
// fetchFeed's connections (no database at all).
const onceOnly = ['tests/integration/cli-refusals.test.ts', 'tests/integration/browser.test.ts', 'tests/integration/fetch.test.ts'];
// The fault tests need a PostgreSQL server (several processes on one database, a
// server restart): the postgres project only.
const postgresOnly = ['tests/integration/faults/**/*.test.ts'];
if (!process.env.TEST_DATABASE_URL) console.warn('TEST_DATABASE_URL is not set: the postgres project and the fault tests do not run');
// `isolate: false`: one worker process runs the project's files one after another and keeps
// the modules it has loaded (each file's own module still runs afresh), instead of a new
// process and a fresh import of src/ per file: about 1.8 s less CPU per integration file.
// Nothing in src/ or the helpers keeps per-test state at module level (only caches of pure
// results). The postgres project stays isolated: its fault tests kill processes and
// restart the server.
const projects: { test: Record<string, unknown> }[] = [
  { test: { name: 'unit', root: '.', include: ['tests/unit/**/*.test.ts'], isolate: false } },
  {
    test: {
      name: 'pglite',
      root: '.',
      include: integration,
      exclude: postgresOnly,
      isolate: false,
      globalSetup: ['tests/helpers/build.ts', 'tests/helpers/pglite-template.ts'],
      env: { TEST_DB_KIND: 'pglite' },
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  },
];
if (process.env.TEST_DATABASE_URL) {
  projects.push({
    test: {
      name: 'postgres',
      root: '.',
      include: integration,
      exclude: onceOnly,
      globalSetup: ['tests/helpers/build.ts'],
      env: { TEST_DB_KIND: 'postgres' },
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  });
}

export default defineConfig({
  test: {
    projects,
    pool: 'forks',
  },
});
