/** What a run of the bench measures, from its environment (see main.ts). */

/** `BENCH_BURSTS=100,200 npm run bench`: only those bursts, printed and not written to BENCHMARKS.md. */
export const ONLY = process.env.BENCH_BURSTS?.split(',').map(Number);
export const BURSTS = ONLY ?? [10, 50, 100, 200, 500];
export const BENCH_RUNS = repeats(process.env.BENCH_REPEAT);
/**
 * `BENCH_RESERVE=1`: each burst's pool keeps a reserve of as many pre-bound claims as the burst has
 * Clusters (`--claim-reserve`); the burst starts once the reserve is bound and the plane is quiet
 * again, so the phase measures the burst, and the fill is reported on its own.
 */
export const RESERVE = process.env.BENCH_RESERVE === '1';
/**
 * Each size's CAPI floor and burst through us run this many times, in turn (`BENCH_REPEAT`, default
 * 3), and the targets are judged on the median of the paired ratios: the floor alone varies from
 * run to run by as much as the distance to a 1.1× target. `BENCH_REPEAT=1` for a quick look.
 */
function repeats(value = '3'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`BENCH_REPEAT=${value}: give a whole number of runs, 1 or more`);
  return n;
}
/** The burst whose CPU profile and request breakdown BENCHMARKS.md shows. */
export const PROFILED = 500;
/** `BENCH_IDLE_SECONDS=300`: how long section 6 samples the idle plane (default 180 s). */
export const IDLE_MS = idleSeconds(process.env.BENCH_IDLE_SECONDS) * 1000;
function idleSeconds(value = '180'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 10)
    throw new Error(`BENCH_IDLE_SECONDS=${value}: give a whole number of seconds, 10 or more`);
  return n;
}
