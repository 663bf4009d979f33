/**
 * Start-up of one-shot commands, as a person or cron runs them: the package's bin
 * started with `node` (npx adds the same ~0.5 s to any command and is not counted).
 *
 * Floor: a bare `node -e` that prints a line and exits, measured in the same rounds.
 * Each round runs the floor and every command once, interleaved, so load from other
 * work on the machine hits them alike; the figure is the median over rounds of each
 * round's ratio. Wall time is what a person waits; CPU time (user + system, all threads,
 * through /usr/bin/time when present) is what it would be on an idle machine, and stays
 * meaningful when other work shares the cores. Also shown: the same commands through
 * tsx from the TypeScript sources (what the bin falls back to when dist/ is missing or
 * stale).
 *
 *   npm run bench:startup [-- --rounds 15]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '../../src/cli/compiled.mjs';
import { machineDescription, table } from './lib.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 11;

const fromSources = (args: string[]) =>
  `const { register } = await import('tsx/esm/api'); register(); const { main } = await import('./src/cli/main.ts'); process.exitCode = await main(${JSON.stringify(args)}, process.env);`;

const cases: { name: string; argv: string[] }[] = [
  { name: 'bare node -e (floor)', argv: ['-e', 'console.log("hello")'] },
  { name: 'bin --help', argv: ['src/cli/bin.mjs', '--help'] },
  { name: 'bin config check', argv: ['src/cli/bin.mjs', 'config', 'check'] },
  { name: 'sources --help (tsx)', argv: ['--input-type=module', '-e', fromSources(['--help'])] },
  { name: 'sources config check (tsx)', argv: ['--input-type=module', '-e', fromSources(['config', 'check'])] },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function main(): void {
  for (const line of machineDescription()) console.log(line);
  if (!compiledEntry(ROOT)) {
    console.log('dist/ missing or older than the sources: building it first (npm run build)');
    const b = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('build failed');
  }
  console.log(
    `Load average before: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (other work on the machine skews the figures; ratios are paired per round)`,
  );
  // A throw-away data folder: `config check` on the shipped config creates the app secret there.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'aa-startup-'));
  const env = { ...process.env, DATA_DIR: dataDir, CONFIG_DIR: path.join(ROOT, 'config') };
  const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
  const cpuFile = path.join(dataDir, 'cpu');
  const wall = cases.map(() => [] as number[]);
  const cpu = cases.map(() => [] as number[]);
  try {
    for (let round = 0; round < ROUNDS + 1; round++) {
      cases.forEach((c, i) => {
        const [cmd, args] = timeBin ? [timeBin, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...c.argv]] : [process.execPath, c.argv];
        const t0 = process.hrtime.bigint();
        const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8' });
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
        if (round === 0) return; // warms the file cache
        wall[i]!.push(s);
        if (timeBin)
          cpu[i]!.push(
            readFileSync(cpuFile, 'utf8')
              .trim()
              .split(/\s+/)
              .slice(-2)
              .map(Number)
              .reduce((a, b) => a + b, 0),
          );
      });
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const paired = (series: number[][], i: number) => median(series[i]!.map((t, r) => t / Math.max(0.005, series[0]![r]!)));
  const rows = cases.map((c, i) => {
    const w = paired(wall, i);
    const u = timeBin ? paired(cpu, i) : NaN;
    return [
      c.name,
      median(wall[i]!).toFixed(3),
      i === 0 ? '1.0' : w.toFixed(1),
      timeBin ? median(cpu[i]!).toFixed(2) : '-',
      timeBin ? (i === 0 ? '1.0' : u.toFixed(1)) : '-',
      i === 1 || i === 2 ? (w <= 3 ? 'yes' : 'NO') : '',
    ];
  });
  console.log(`\n${ROUNDS} rounds; medians, and the median of each round's ratio to the floor (goal: bin within 3× in wall time)\n`);
  console.log(table(['command', 'wall (s)', 'wall × floor', 'CPU (s)', 'CPU × floor', '≤ 3×'], rows));
  if (!timeBin) console.log('(no /usr/bin/time: CPU columns left out)');
  console.log(
    `\nLoad average after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

main();
