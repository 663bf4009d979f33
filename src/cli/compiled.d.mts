/** Absolute path of dist/main.js when it is up to date with the sources under `root`, else undefined. */
export function compiledEntry(root: string): string | undefined;
