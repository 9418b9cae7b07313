/**
 * While no replica answers, CAPI backs off exponentially on the Clusters our hooks could not serve
 * (up to about 16 minutes between tries). When a replica starts serving, it touches every Cluster
 * still waiting on a hook of ours, to be created or to be deleted, so CAPI reconciles them now
 * instead of at the end of that backoff. Touching a Cluster CAPI was not waiting on costs one reconcile.
 *
 * Once is not enough for a Pod: it joins its Service only after the kubelet has seen it Ready and
 * every proxy has learnt its endpoint, seconds after it serves. A touch before then sends CAPI to a
 * Service with no endpoint ("connection refused") and only lengthens the backoff. So the replica
 * touches the Clusters still waiting again, at growing intervals, for its first two minutes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../shared/kube/store.js';
import type { Cluster } from '../shared/kube/types.js';
import { ANNOTATION_NUDGED } from '../shared/vip.js';

/** CAPI's mark that BeforeClusterDelete let a Cluster's deletion go on (internal/hooks/tracking.go). */
const OK_TO_DELETE = 'runtime.cluster.x-k8s.io/ok-to-delete';

/**
 * Pauses before each touch after the first: 2 s doubling up to 10 s, about two minutes in all,
 * past a readiness probe's period (5 s in our manifests) and an endpoint's way to the proxies.
 */
export const NUDGE_AGAIN_AFTER_MS: readonly number[] = [2, 4, 8, ...Array<number>(11).fill(10)].map(
  (s) => s * 1000,
);

const waiting = (c: Cluster): boolean =>
  Boolean(c.spec?.topology) &&
  (c.metadata.deletionTimestamp
    ? c.metadata.annotations?.[OK_TO_DELETE] === undefined
    : !c.spec?.infrastructureRef?.name && !c.spec?.controlPlaneRef?.name);

/**
 * Touches each topology Cluster that waits on our hooks: no topology objects yet, or deleting
 * and not yet let go by BeforeClusterDelete. Resolves to how many.
 */
export async function nudgeWaitingClusters(store: Store, now: Date = new Date()): Promise<number> {
  const clusters = (await store.listClusters()).filter(waiting);
  for (const cluster of clusters) {
    await store.patchCluster(cluster, { annotations: { [ANNOTATION_NUDGED]: now.toISOString() } });
  }
  return clusters.length;
}

export interface NudgeOptions {
  /** Stops the rounds (the process is shutting down). */
  readonly signal: AbortSignal;
  /** Called after each round that touched a Cluster, with its number (0 first) and count. */
  readonly onRound: (round: number, count: number) => void;
  /** Called when a round fails (the API server refused a list or a patch); the next one still runs. */
  readonly onError: (round: number, err: unknown) => void;
  readonly pauses?: readonly number[];
  readonly pause?: (ms: number, signal: AbortSignal) => Promise<unknown>;
}

/**
 * Touches the waiting Clusters now, then again after each pause while any still waits.
 * Resolves when none waits, the pauses are spent, or the signal stops it.
 */
export async function nudgeWhileWaiting(store: Store, options: NudgeOptions): Promise<void> {
  const { signal, onRound, onError, pauses = NUDGE_AGAIN_AFTER_MS } = options;
  const pause = options.pause ?? ((ms, s) => sleep(ms, undefined, { signal: s }));
  for (const [round, ms] of [0, ...pauses].entries()) {
    if (signal.aborted) return;
    if (round > 0) {
      try {
        await pause(ms, signal);
      } catch {
        return; // aborted
      }
    }
    let count: number;
    try {
      count = await nudgeWaitingClusters(store);
    } catch (err) {
      onError(round, err);
      continue;
    }
    if (count === 0) return;
    onRound(round, count);
  }
}
