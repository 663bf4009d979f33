import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { connectDatabase, migrateToLatest } from '../../src/db/connect.ts';
import { silentLogger } from '../../src/common/logger.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
  }
}

/**
 * initdb dominates a PGlite start (~5 s). Build one migrated data directory per
 * run; each test file copies it (well under a second) instead.
 */
export default async function setup(project: TestProject) {
  const root = mkdtempSync(path.join(tmpdir(), 'aa-tpl-'));
  const handle = await connectDatabase({ databaseUrl: undefined, dataDir: root, role: 'command', logger: silentLogger });
  await migrateToLatest(handle.db, silentLogger);
  await handle.close();
  project.provide('pgliteTemplate', path.join(root, 'pglite'));
  return () => rmSync(root, { recursive: true, force: true });
}
