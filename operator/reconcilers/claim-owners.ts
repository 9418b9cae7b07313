/**
 * Legacy mode (`--enable-reconciler`): make sure no claim of ours is left without an owner. It
 * never allocates (BeforeClusterCreate is the only allocator): a claim whose Cluster exists gets
 * the Cluster as owner; one whose Cluster never appears is reported, and deleted only if asked.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { ref, type Allocator } from '../../shared/allocator/allocator.js';
import { claimName, clusterNameOf, isOurs } from '../../shared/allocator/claims.js';
import type { Recorder } from '../../shared/events.js';
import { isNotFound } from '../../shared/kube/errors.js';
import type { Cluster, IPAddressClaim } from '../../shared/kube/types.js';
import { CLAIM_PREFIX, type Role } from '../../shared/vip.js';
import { keyOf, splitKey, type Operator, type ReconcileResult } from '../operator.js';

export const CLUSTERS = { group: 'cluster.x-k8s.io', version: 'v1beta2', plural: 'clusters' };
export const IPADDRESSCLAIMS = {
  group: 'ipam.cluster.x-k8s.io',
  version: 'v1beta2',
  plural: 'ipaddressclaims',
};

const ROLES = Object.keys(CLAIM_PREFIX) as Role[];

const hasOwner = (claim: IPAddressClaim): boolean =>
  claim.metadata.ownerReferences?.some((o) => o.kind === 'Cluster') ?? false;

export interface ClaimOwnerOptions {
  readonly allocator: Allocator;
  readonly recorder: Recorder;
  readonly orphanGraceMs: number;
  readonly deleteOrphans: boolean;
  readonly onAdopted?: () => void;
  readonly onOrphans?: (count: number) => void;
}

export function registerClaimOwners(op: Operator, kc: KubeConfig, options: ClaimOwnerOptions): void {
  const clusters = op.watch<Cluster>(CLUSTERS);
  const claims = op.watch<IPAddressClaim>(IPADDRESSCLAIMS);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const orphans = new Set<string>();
  const setOrphan = (key: string, orphan: boolean): void => {
    const before = orphans.size;
    if (orphan) orphans.add(key);
    else orphans.delete(key);
    if (orphans.size !== before) options.onOrphans?.(orphans.size);
  };

  async function reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const claim = claims.get(namespace, name);
    if (!claim || !isOurs(claim) || claim.metadata.deletionTimestamp || hasOwner(claim)) {
      setOrphan(key, false);
      return undefined;
    }

    const clusterName = clusterNameOf(claim);
    const cluster = clusterName ? clusters.get(namespace, clusterName) : undefined;
    if (cluster) {
      setOrphan(key, false);
      await options.allocator.adopt(claim, cluster);
      options.onAdopted?.();
      await options.recorder.event(
        cluster,
        'Normal',
        'VIPClaimAdopted',
        `IPAddressClaim ${ref(claim)} now has Cluster ${ref(cluster)} as its owner`,
      );
      return;
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
    try {
      await objects.delete(claim);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    setOrphan(key, false);
    return undefined;
  }

  op.reconciler('claim-owners', reconcile)
    .on(claims, (claim) => (isOurs(claim) ? [keyOf(claim)] : []))
    .on(clusters, (cluster) =>
      ROLES.map((role) => `${cluster.metadata.namespace}/${claimName(role, cluster.metadata.name)}`),
    );
}
