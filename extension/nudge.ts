/**
 * While no replica answers, CAPI backs off exponentially on the Clusters our hooks could not serve
 * (up to about 16 minutes between tries). When a replica starts serving, it touches every Cluster
 * still waiting on a hook of ours, to be created or to be deleted, so CAPI reconciles them now
 * instead of at the end of that backoff. Touching a Cluster CAPI was not waiting on costs one reconcile.
 */
import type { Store } from '../shared/kube/store.js';
import type { Cluster } from '../shared/kube/types.js';
import { ANNOTATION_NUDGED } from '../shared/vip.js';

/** CAPI's mark that BeforeClusterDelete let a Cluster's deletion go on (internal/hooks/tracking.go). */
const OK_TO_DELETE = 'runtime.cluster.x-k8s.io/ok-to-delete';

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
