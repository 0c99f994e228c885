// Command-line options of `npm run bench` (bench/run.ts) and of the measuring program (bench/measure.ts).

export const BENCH_NAMES = ['boot', 'exits', 'memory'] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

/** Env variable run.ts sets for the measuring program: where it runs (shown in the summary). */
export const BENCH_WHERE_ENV = 'KQUBES_BENCH_WHERE';

export const DEFAULT_RUNS = 3;
export const DEFAULT_EXITS = 100_000;
/** The guest's loop counter is ecx: at most 2^32 - 1 iterations. */
export const MAX_EXITS = 0xffff_ffff;

export interface BenchOptions {
  /** which benchmarks to run (all by default) */
  readonly only: readonly BenchName[];
  /** boot runs per VMM */
  readonly runs: number;
  /** `out` writes in the exits benchmark */
  readonly exits: number;
  /** where run.ts writes the summary as JSON (optional) */
  readonly json?: string;
  /** where measure.ts writes its result (set by run.ts) */
  readonly result?: string;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = 'usage: npm run bench -- [--only boot|exits|memory] [--runs N] [--exits N] [--json FILE]';

function positiveInt(flag: string, value: string | undefined, max: number): number {
  if (value === undefined || !/^[0-9]+$/.test(value)) throw new UsageError(`${flag} needs a positive integer, got "${value ?? ''}"`);
  const n = Number(value);
  if (n < 1 || n > max) throw new UsageError(`${flag} must be 1..${max}, got ${value}`);
  return n;
}

/** Parses argv (without node and the script). `--only` may be repeated or take a comma list. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const only: BenchName[] = [];
  let runs = DEFAULT_RUNS;
  let exits = DEFAULT_EXITS;
  let json: string | undefined;
  let result: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (eq > 0 && arg.startsWith('--') ? arg.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--only': {
        const v = value() ?? '';
        for (const name of v.split(',')) {
          if (!(BENCH_NAMES as readonly string[]).includes(name)) throw new UsageError(`--only takes ${BENCH_NAMES.join('|')}, got "${name}"`);
          if (!only.includes(name as BenchName)) only.push(name as BenchName);
        }
        break;
      }
      case '--runs':
        runs = positiveInt('--runs', value(), 100);
        break;
      case '--exits':
        exits = positiveInt('--exits', value(), MAX_EXITS);
        break;
      case '--json':
        json = value();
        if (!json) throw new UsageError('--json needs a file name');
        break;
      case '--result':
        result = value();
        if (!result) throw new UsageError('--result needs a file name');
        break;
      case '--help':
      case '-h':
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown argument "${arg}"\n${USAGE}`);
    }
  }
  return { only: only.length > 0 ? only : [...BENCH_NAMES], runs, exits, ...(json ? { json } : {}), ...(result ? { result } : {}) };
}

/** The argv that hands `opts` on to the measuring program (everything but --json, which run.ts handles). */
export function measureArgs(opts: BenchOptions, resultFile: string): string[] {
  return ['--only', opts.only.join(','), '--runs', String(opts.runs), '--exits', String(opts.exits), '--result', resultFile];
}
