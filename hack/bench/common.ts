/** What every part of the bench uses: its log, waits, and the way it prints times and percentiles. */
export const log = (m: string): void => void process.stderr.write(`${m}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}
export const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Polls `done` until it holds, logging progress (`what`: done/total) every 10 s. */
export async function until(
  what: string,
  progress: () => Promise<number> | number,
  total: number,
): Promise<void> {
  const started = Date.now();
  let lastLog = started;
  for (;;) {
    const n = await progress();
    if (n >= total) return;
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`    ${what}: ${n}/${total} after ${s(Date.now() - started)}`);
    }
    await sleep(50);
  }
}
