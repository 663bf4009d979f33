import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '../../src/cli/compiled.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Tests that start the real command line run what users run: the compiled build in
 * dist/. Build it when it is missing or older than the sources (the bin would
 * otherwise fall back to the sources through tsx — correct, but not what ships).
 */
export default function setup(): void {
  if (compiledEntry(ROOT)) return;
  const r = spawnSync(process.execPath, ['scripts/build.mjs', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
}
