/** Summaries and the one table `npm run bench` prints. */
import { performance } from 'node:perf_hooks';

/** How long `work` takes, in milliseconds. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A figure over several rounds: its median and the range from the lowest to the highest round. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Runs `warmUp` unrecorded rounds, then `rounds` recorded ones, the anchor and certmid alternating
 * (which goes first alternates too), so drift in the machine's load falls on both sides alike.
 */
export async function interleaved<T>(rounds: number, warmUp: number, anchor: () => Promise<T>, certmid: () => Promise<T>): Promise<{ anchor: T[]; certmid: T[] }> {
  const result = { anchor: [] as T[], certmid: [] as T[] };
  for (let round = 0; round < warmUp + rounds; round++) {
    const sides = round % 2 === 0 ? (['anchor', 'certmid'] as const) : (['certmid', 'anchor'] as const);
    for (const side of sides) {
      const value = await (side === 'anchor' ? anchor() : certmid());
      if (round >= warmUp) result[side].push(value);
    }
  }
  return result;
}

/** One line of the table: a figure, what it is compared with, and the goal the ratio is held to. */
export interface Row {
  figure: string;
  anchor: string;
  certmid: string;
  /** certmid / anchor, how the goal reads it (time: higher is worse). */
  ratio: number | null;
  goal: string;
}

export const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
export const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`;

/** `median (min–max) unit` of a spread. */
export function showSpread(value: Spread, unit: string, format: (n: number) => string = ms): string {
  return `${format(value.median)} (${format(value.min)}–${format(value.max)}) ${unit}`;
}

/** Prints the rows as one aligned table. */
export function printTable(rows: readonly Row[]): void {
  const cells = [['figure', 'anchor', 'certmid', 'ratio', 'goal'], ...rows.map((row) => [row.figure, row.anchor, row.certmid, row.ratio === null ? '–' : `${row.ratio.toFixed(2)}×`, row.goal])];
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((line) => line[column]!.length)));
  const line = (values: string[]) => `| ${values.map((value, column) => value.padEnd(widths[column]!)).join(' | ')} |`;
  console.log(line(cells[0]!));
  console.log(`|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const values of cells.slice(1)) console.log(line(values));
}
