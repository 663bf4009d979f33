// Decides whether the bin may run the compiled build in dist/ (fast start) or must run
// the TypeScript sources through tsx (always correct, slower). The build records when it
// started and which files it read; any of them changed since then — an edit, a `git pull`,
// a new migration — makes the build stale, and the sources run instead. Cost: one stat per
// source file (about a hundred), well under a millisecond.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Absolute path of dist/main.js when it is up to date with the sources under `root`, else undefined. */
export function compiledEntry(root) {
  const dist = path.join(root, 'dist');
  let info;
  try {
    info = JSON.parse(readFileSync(path.join(dist, 'build-info.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof info?.startedAt !== 'number' || !Array.isArray(info.inputs)) return undefined;
  for (const file of info.inputs) {
    const stat = statSync(path.join(root, file), { throwIfNoEntry: false });
    if (!stat || stat.mtimeMs > info.startedAt) return undefined;
  }
  return path.join(dist, 'main.js');
}
