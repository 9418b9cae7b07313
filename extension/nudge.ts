/**
 * While no replica answers, CAPI backs off exponentially on the Clusters our hooks could not serve
 * (up to about 16 minutes between tries). When a replica starts serving, it touches every Cluster
 * whose topology is still to be created, so CAPI reconciles them now instead of at the end of that
 * backoff. Touching a Cluster CAPI was not waiting on costs one reconcile.
 */
import type { Store } from '../shared/allocator/store.js';
import type { Cluster } from '../shared/kube/types.js';
import { ANNOTATION_NUDGED } from '../shared/vip.js';

const waiting = (c: Cluster): boolean =>
  Boolean(c.spec?.topology) &&
  !c.spec?.infrastructureRef?.name &&
  !c.spec?.controlPlaneRef?.name &&
  !c.metadata.deletionTimestamp;

/** Touches each topology Cluster that has no topology objects yet; resolves to how many. */
export async function nudgeWaitingClusters(store: Store, now: Date = new Date()): Promise<number> {
  const clusters = (await store.listClusters()).filter(waiting);
  for (const cluster of clusters) {
    await store.patchCluster(cluster, { annotations: { [ANNOTATION_NUDGED]: now.toISOString() } });
  }
  return clusters.length;
}
