// Counts passed and failed test points in a TAP stream (tap's --reporter=tap output) with tap's own parser.
import { Parser } from 'tap-parser';
import type { Result } from 'tap-parser';

export interface TapCounts {
  passed: number;
  failed: number;
  skipped: number;
  /** True once the stream ended with a plan and no bail out. */
  complete: boolean;
  bailedOut: boolean;
}

interface Subtree {
  fails: number;
}

/**
 * A writable TAP sink. Leaf test points count one each; a failed subtest point whose subtree holds no failed leaf
 * (a test file that crashed, timed out or broke its plan) counts as one failure.
 */
export class TapCounter {
  readonly counts: TapCounts = { passed: 0, failed: 0, skipped: 0, complete: false, bailedOut: false };
  private readonly parser: Parser;

  constructor() {
    this.parser = new Parser();
    this.attach(this.parser, { fails: 0 });
    this.parser.on('complete', (final: { ok: boolean; plan: { start: number | null } | null; bailout: boolean | string }) => {
      this.counts.complete = !final.bailout;
      this.counts.bailedOut = Boolean(final.bailout);
    });
  }

  write(chunk: Buffer | string): void {
    this.parser.write(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  }

  end(): TapCounts {
    this.parser.end();
    return this.counts;
  }

  private attach(parser: Parser, tree: Subtree, parents: Subtree[] = []): void {
    let lastChild: Subtree | null = null;
    parser.on('child', (child: Parser) => {
      lastChild = { fails: 0 };
      this.attach(child, lastChild, [...parents, tree]);
    });
    parser.on('assert', (res: Result) => {
      const failed = !res.ok && !res.todo && !res.skip;
      if (res.closingTestPoint) {
        const child: Subtree | null = lastChild;
        if (failed && (child === null || child.fails === 0)) this.fail(tree, parents);
        return;
      }
      if (res.skip || res.todo) this.counts.skipped++;
      else if (failed) this.fail(tree, parents);
      else this.counts.passed++;
    });
  }

  private fail(tree: Subtree, parents: Subtree[]): void {
    this.counts.failed++;
    tree.fails++;
    for (const p of parents) p.fails++;
  }
}
