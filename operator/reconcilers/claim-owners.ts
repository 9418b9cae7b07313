/**
 * The legacy reconciler, registered only with `--enable-reconciler`: make sure no claim of ours is left without an owner. It
 * never allocates (BeforeClusterCreate is the only allocator): a claim whose Cluster exists gets
 * the Cluster as owner; one whose Cluster never appears is reported, and deleted only if asked.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Allocator } from '../../shared/allocator/allocator.js';
import { isPaused, ref, topologyClass } from '../../shared/cluster.js';
import { isQuarantined } from '../../shared/quarantine.js';
import { isFreeReserve } from '../../shared/allocator/reserve.js';
import {
  ALL_SLOTS,
  claimName,
  clusterNameOf,
  hasClusterOwner,
  isOurs,
} from '../../shared/allocator/claims.js';
import type { Recorder } from '../../shared/events.js';
import { CLUSTER, IP_ADDRESS_CLAIM, typeMeta } from '../../shared/kube/gvk.js';
import type { Cluster, IPAddressClaim, NamespacedMeta } from '../../shared/kube/types.js';
import type { Store } from '../../shared/kube/store.js';
import { clusterPatch, wantsIngress } from '../../shared/publish.js';
import { ANNOTATION_INGRESS_VIP, LABEL_ROLE } from '../../shared/vip.js';
import { countedKeys, keyOf, splitKey, type Operator, type ReconcileResult } from '../operator.js';

/** A Cluster as the watch holds it: its metadata and whether it is paused, nothing else. */
interface ClusterMeta {
  apiVersion?: string;
  kind?: string;
  metadata: NamespacedMeta;
  spec?: { paused?: boolean };
}

const clusterMeta = (obj: KubernetesObject): ClusterMeta => {
  const c = obj as Cluster;
  return {
    ...typeMeta(CLUSTER),
    metadata: c.metadata,
    ...(c.spec?.paused ? { spec: { paused: true } } : {}),
  };
};

export interface ClaimOwnerOptions {
  readonly allocator: Allocator;
  readonly store: Store;
  readonly recorder: Recorder;
  readonly orphanGraceMs: number;
  readonly deleteOrphans: boolean;
  readonly onOwnerSet?: () => void;
  readonly onOrphans?: (count: number) => void;
}

export function registerClaimOwners(op: Operator, options: ClaimOwnerOptions): void {
  // Clusters are only looked up by name here: their metadata and pause are all that is cached.
  const clusters = op.watch<ClusterMeta>(CLUSTER, { transform: clusterMeta });
  const claims = op.watch<IPAddressClaim>(IP_ADDRESS_CLAIM);
  const setOrphan = countedKeys(options.onOrphans);

  /**
   * An ingress claim that bound after its Cluster's topology was created (BeforeClusterCreate no
   * longer runs): write the address, through the allocator so the duplicate check still applies.
   * No topology variable is set now: a changed variable would roll the control plane.
   */
  async function lateIngress(meta: ClusterMeta, claim: IPAddressClaim): Promise<void> {
    if (
      claim.metadata.labels?.[LABEL_ROLE] !== 'ingress' ||
      !claim.status?.addressRef?.name ||
      meta.metadata.annotations?.[ANNOTATION_INGRESS_VIP]
    ) {
      return;
    }
    // The cache holds metadata only; this rare case reads the whole Cluster.
    const cluster = await options.store.getCluster(meta.metadata.namespace, meta.metadata.name);
    const cls = cluster && topologyClass(cluster);
    if (!cluster || !cls || !wantsIngress(cluster)) return;
    const allocation = await options.allocator.allocate(
      cluster,
      cls.name,
      { role: 'ingress' },
      { read: { claim } },
    );
    if (allocation.state !== 'allocated') return;
    await options.store.patchCluster(cluster, clusterPatch({ ingress: allocation.address }));
    await options.recorder.event(
      cluster,
      'Normal',
      'IngressVIPAllocated',
      `Ingress VIP ${allocation.address} from IPAddressClaim ${ref(claim)}, bound after the Cluster was created`,
    );
  }

  async function reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const claim = claims.get(namespace, name);
    // A held claim is the quarantine reconciler's, a reserve claim the reserve's: no owner on purpose.
    if (
      !claim ||
      !isOurs(claim) ||
      claim.metadata.deletionTimestamp ||
      isQuarantined(claim) ||
      isFreeReserve(claim)
    ) {
      setOrphan(key, false);
      return undefined;
    }
    const clusterName = clusterNameOf(claim);
    const meta = clusterName ? clusters.get(namespace, clusterName) : undefined;
    // clusterctl move pauses the Cluster while it copies and deletes its objects: hands off.
    if (meta && isPaused(meta as Cluster)) return undefined;
    if (meta) {
      const cluster = meta as Cluster;
      setOrphan(key, false);
      if (!hasClusterOwner(claim)) {
        await options.allocator.ensureOwner(claim, cluster);
        options.onOwnerSet?.();
        await options.recorder.event(
          cluster,
          'Normal',
          'VIPClaimAdopted',
          `IPAddressClaim ${ref(claim)} now has Cluster ${ref(cluster)} as its owner`,
        );
      }
      await lateIngress(meta, claim);
      return;
    }
    if (hasClusterOwner(claim)) {
      setOrphan(key, false);
      return undefined;
    }

    const age = Date.now() - new Date(claim.metadata.creationTimestamp ?? Date.now()).getTime();
    if (age < options.orphanGraceMs) return { requeueAfterMs: options.orphanGraceMs - age + 500 };
    setOrphan(key, true);
    const note = `IPAddressClaim ${ref(claim)} has no owner and Cluster ${namespace}/${clusterName ?? '?'} does not exist`;
    await options.recorder.event(
      claim,
      'Warning',
      'VIPClaimOrphaned',
      options.deleteOrphans ? `${note}; deleting it` : note,
    );
    if (!options.deleteOrphans) return { requeueAfterMs: options.orphanGraceMs };
    // Only as cached: a claim recreated under the same name, or adopted meanwhile, is not deleted
    // (its change brings it back here).
    if (!(await options.store.deleteClaim(claim, { unchanged: true }))) return undefined;
    setOrphan(key, false);
    return undefined;
  }

  op.reconciler('claim-owners', reconcile)
    .on(claims, (claim) => (isOurs(claim) ? [keyOf(claim)] : []))
    .on(clusters, (cluster) =>
      ALL_SLOTS.map((slot) => `${cluster.metadata.namespace}/${claimName(slot, cluster.metadata.name)}`),
    );
}
