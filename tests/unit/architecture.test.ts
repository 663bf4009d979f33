import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The README's "Architecture" promise: imports between the folders of src/ run one way.
// A folder cycle is how a codebase stops being easy to change, and it creeps in one
// convenient import at a time, so the suite guards it rather than a reviewer's eye.

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const FOUNDATION = ['common', 'config', 'db'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|mjs)$/.test(e.name) && !e.name.endsWith('.d.mts') ? [path] : [];
  });
}

/** The top folder under src/ a file belongs to, or null for the files at the root (service, runtime, roles). */
function folderOf(file: string): string | null {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? parts[0]! : null;
}

/** Relative import specifiers, static and dynamic (`import('…')`, `typeof import('…')`). */
function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) found.push(m[1]!);
  return found;
}

function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    if (!from) continue;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const to = folderOf(resolve(dirname(file), spec));
      if (!to || to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the folders of src/', () => {
  const graph = folderGraph();

  it('sees the imports it is meant to judge (the walk is not vacuous)', () => {
    expect(graph.get('delivery')).toContain('subscriptions');
    expect(graph.get('web')?.size).toBeGreaterThan(3);
  });

  it('import one another one way only: no folder cycles', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when one is there (the check itself can fail)', () => {
    const withCycle = new Map(graph);
    withCycle.set('subscriptions', new Set([...(graph.get('subscriptions') ?? []), 'delivery']));
    expect(cycles(withCycle).some((c) => c.includes('delivery') && c.includes('subscriptions'))).toBe(true);
  });

  it.each(FOUNDATION)('%s imports no feature folder', (folder) => {
    const upward = [...(graph.get(folder) ?? [])].filter((to) => !FOUNDATION.includes(to));
    expect(upward).toEqual([]);
  });
});
