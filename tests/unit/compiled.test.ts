import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compiledEntry } from '../../src/cli/compiled.mjs';

describe('the bin runs dist/ only when it is up to date with the sources', () => {
  let root: string;
  const builtAt = Date.parse('2026-11-30T01:00:00Z');
  const at = (iso: string) => new Date(iso);

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'aa-compiled-'));
    mkdirSync(path.join(root, 'src/cli'), { recursive: true });
    mkdirSync(path.join(root, 'migrations'));
    mkdirSync(path.join(root, 'dist'));
    for (const f of ['src/cli/main.ts', 'migrations/0-core.ts']) {
      writeFileSync(path.join(root, f), '');
      utimesSync(path.join(root, f), at('2026-11-30T00:00:00Z'), at('2026-11-30T00:00:00Z'));
    }
    utimesSync(path.join(root, 'migrations'), at('2026-11-30T00:00:00Z'), at('2026-11-30T00:00:00Z'));
    writeFileSync(
      path.join(root, 'dist/build-info.json'),
      JSON.stringify({ startedAt: builtAt, inputs: ['src/cli/main.ts', 'migrations/0-core.ts', 'migrations'] }),
    );
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('uses dist/main.js when no input changed since the build started', () => {
    expect(compiledEntry(root)).toBe(path.join(root, 'dist/main.js'));
  });

  it('falls back to the sources when a source file was edited after the build', () => {
    utimesSync(path.join(root, 'src/cli/main.ts'), at('2026-11-30T01:00:01Z'), at('2026-11-30T01:00:01Z'));
    expect(compiledEntry(root)).toBeUndefined();
  });

  it('falls back when a migration was added (the folder changed) or an input is gone', () => {
    utimesSync(path.join(root, 'migrations'), at('2026-11-30T02:00:00Z'), at('2026-11-30T02:00:00Z'));
    expect(compiledEntry(root)).toBeUndefined();
    utimesSync(path.join(root, 'migrations'), at('2026-11-30T00:00:00Z'), at('2026-11-30T00:00:00Z'));
    expect(compiledEntry(root)).toBeDefined();
    rmSync(path.join(root, 'src/cli/main.ts'));
    expect(compiledEntry(root)).toBeUndefined();
  });

  it('falls back when there is no build or its record is unreadable', () => {
    writeFileSync(path.join(root, 'dist/build-info.json'), '{not json');
    expect(compiledEntry(root)).toBeUndefined();
    rmSync(path.join(root, 'dist'), { recursive: true });
    expect(compiledEntry(root)).toBeUndefined();
  });
});
