// The benchmark summary: one row per figure compared with its same-run baseline, the table printed at the end,
// and the JSON written by --json.

export interface SummaryRow {
  /** what was measured, e.g. "boot to init marker (median)" */
  readonly metric: string;
  readonly unit: string;
  readonly qvmm: number;
  /** the baseline's figure, measured in the same run */
  readonly baseline: number;
  readonly baselineName: string;
  /** qvmm / baseline */
  readonly ratio: number;
  /** the ratio the project aims for (at most) */
  readonly goal: number;
}

export interface BenchSummary {
  /** 'direct' on a /dev/kvm with vmx/svm, else 'emulated KVM host' (QEMU TCG; absolute times are ~10-50x slower) */
  readonly where: string;
  readonly startedAt: string;
  readonly rows: SummaryRow[];
  /** every individual measurement, per benchmark */
  readonly details: Record<string, unknown>;
  /** benchmarks that failed, with why */
  readonly errors: Record<string, string>;
}

export function row(metric: string, unit: string, qvmm: number, baselineName: string, baseline: number, goal: number): SummaryRow {
  return { metric, unit, qvmm, baseline, baselineName, ratio: baseline > 0 ? qvmm / baseline : Number.NaN, goal };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return 'n/a';
  return Math.abs(n) >= 1000 ? n.toFixed(0) : n.toFixed(digits);
}

/** The summary as an aligned text table. */
export function formatTable(s: BenchSummary): string {
  const header = ['metric', 'qvmm', 'baseline', 'ratio', 'goal', 'met'];
  const body = s.rows.map((r) => [
    r.metric,
    `${fmt(r.qvmm)} ${r.unit}`,
    `${fmt(r.baseline)} ${r.unit} (${r.baselineName})`,
    fmt(r.ratio, 3),
    `<= ${r.goal}`,
    Number.isFinite(r.ratio) ? (r.ratio <= r.goal ? 'yes' : 'no') : 'n/a',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [`bench summary (${s.where}, started ${s.startedAt})`, line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  for (const [name, why] of Object.entries(s.errors)) out.push(`${name}: FAILED: ${why}`);
  return out.join('\n');
}
