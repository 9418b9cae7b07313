/**
 * The soak's schedule: a seed gives the same operations in the same order, each with the random
 * draws it turns into its choices (which Cluster, how long a fault lasts) against the fleet as it
 * is when the operation runs. So a seed replays the schedule, whatever the timing did to the fleet.
 */

export const OP_TYPES = [
  'create',
  'delete',
  'pool-shrink',
  'pool-grow',
  'pool-overlap',
  'pool-recreate',
  'reserve',
  'replica-kill',
  'ipam-pause',
  'apiserver-restart',
  'grace-roll',
] as const;
export type OpType = (typeof OP_TYPES)[number];

/** How often each operation comes: Clusters come and go most, faults now and then. */
const WEIGHTS: Readonly<Record<OpType, number>> = {
  create: 8,
  delete: 7,
  'pool-shrink': 1.5,
  'pool-grow': 1.5,
  'pool-overlap': 1,
  'pool-recreate': 1,
  reserve: 2,
  'replica-kill': 2,
  'ipam-pause': 1,
  'apiserver-restart': 0.4,
  'grace-roll': 0.6,
};

/** Draws each operation carries: enough for its choices, the same count for all (the stream stays aligned). */
const DRAWS = 6;

export interface Op {
  readonly type: OpType;
  /** Uniform numbers in [0, 1), taken in order by the operation's choices. */
  readonly draws: readonly number[];
  /** How long the soak waits after the operation before the next one. */
  readonly pauseMs: number;
}

/** mulberry32: a small, fast generator whose whole state is the seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The element a draw in [0, 1) picks. */
export function pick<T>(draw: number, items: readonly T[]): T | undefined {
  return items[Math.min(items.length - 1, Math.floor(draw * items.length))];
}

/** `steps` operations from `seed`, leaving out the types in `skip` (to look past a bug already found). */
export function schedule(seed: number, steps: number, skip: readonly OpType[] = []): Op[] {
  const next = random(seed);
  const types = OP_TYPES.filter((t) => !skip.includes(t));
  const total = types.reduce((sum, t) => sum + WEIGHTS[t], 0);
  return Array.from({ length: steps }, () => {
    let at = next() * total;
    const type = types.find((t) => (at -= WEIGHTS[t]) < 0) ?? 'create';
    return { type, draws: Array.from({ length: DRAWS }, next), pauseMs: Math.floor(next() * 3_000) };
  });
}
