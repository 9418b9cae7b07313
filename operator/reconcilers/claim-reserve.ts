/**
 * `--claim-reserve`: keeps each pool's reserve of pre-bound claims full (shared/allocator/reserve.ts
 * decides), and is the allocator's view of the reserve. One key per pool and namespace; a reserve
 * claim adopted, bound or deleted, a Cluster's own claim waiting on the pool, or a pool's
 * annotation or free count changed, reconciles its key. Only the leader writes; every replica's cache serves its own adopters.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { freeAddresses, poolRefOf, saysFull } from '../../shared/allocator/pools.js';
import type { PoolKind } from '../../shared/kube/gvk.js';
import type { Store } from '../../shared/kube/store.js';
import type { Recorder } from '../../shared/events.js';
import { isNotFound } from '../../shared/kube/errors.js';
import { IP_ADDRESS_CLAIM } from '../../shared/kube/gvk.js';
import type { IPAddressClaim, IPPool, PoolRef } from '../../shared/kube/types.js';
import {
  ADMITTED_BOUND_MS,
  admittedFate,
  freeClaims,
  isAdmitted,
  newReserveClaim,
  refill,
  reserveNamespaces,
  reserveSize,
  reserveView,
  returnMeta,
  samePool,
  type ReserveView,
} from '../../shared/allocator/reserve.js';
import { clusterOwnerReference } from '../../shared/allocator/claims.js';
import { isQuarantined } from '../../shared/quarantine.js';
import {
  ANNOTATION_ADMITTED_CLAIM,
  LABEL_ADDRESS_KEY,
  LABEL_CLUSTER_NAME,
  LABEL_RESERVE,
  LABEL_ROLE,
  type Role,
} from '../../shared/vip.js';
import { InformerEvent, type Resource } from '../informer.js';
import { watchForAllocator } from '../watched.js';
import type { Watched } from '../../shared/allocator/watched.js';
import { addressKey, isKeyed } from '../../shared/allocator/duplicates.js';
import { keyOf, splitKey, type Operator, type ReconcileResult } from '../operator.js';

/** A pool kind to keep reserves for, with the resource its informer watches. */
export interface ReservePoolKind {
  readonly kind: PoolKind;
  readonly resource: Resource;
}

export interface ClaimReserveOptions {
  readonly store: Store;
  readonly recorder: Recorder;
  readonly kinds: readonly ReservePoolKind[];
  /** Hears how many reserve claims are bound and free to adopt, over every pool and namespace. */
  readonly onReady?: (count: number) => void;
}

/** `namespace/kind/pool`: where a reserve lives and whose it is. */
const reserveKey = (namespace: string, kind: string, pool: string): string => `${namespace}/${kind}/${pool}`;

const keyOfClaim = (claim: IPAddressClaim): string =>
  reserveKey(claim.metadata.namespace, claim.spec.poolRef.kind, claim.spec.poolRef.name);

/** A pool as the watch holds it: what says its reserve, and how many addresses it has free. */
const poolMeta = (obj: KubernetesObject): KubernetesObject => {
  const pool = obj as IPPool;
  return {
    apiVersion: pool.apiVersion,
    kind: pool.kind,
    metadata: pool.metadata,
    ...(pool.status?.ipAddresses ? { status: { ipAddresses: pool.status.ipAddresses } } : {}),
  };
};

/** A claim of ours as the watch holds it: what adopting, refilling, quarantine and ownership read of it. */
const claimMeta = (obj: KubernetesObject): KubernetesObject => {
  const claim = obj as IPAddressClaim;
  const { name, namespace, uid, resourceVersion, labels, annotations, ownerReferences } = claim.metadata;
  const { creationTimestamp, deletionTimestamp } = claim.metadata;
  return {
    apiVersion: claim.apiVersion,
    kind: claim.kind,
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      annotations,
      ownerReferences,
      creationTimestamp,
      deletionTimestamp,
    },
    spec: claim.spec,
    ...(claim.status?.addressRef ? { status: { addressRef: claim.status.addressRef } } : {}),
  } as KubernetesObject;
};

/** The role a reserve claim is labelled with until a Cluster adopts it: the one its pool serves. */
const roleOf = (pool: IPPool): Role =>
  pool.metadata.labels?.[LABEL_ROLE] === 'ingress' ? 'ingress' : 'control-plane';

/** A Cluster's own claim (not the reserve's) of the pool that the provider has not bound. */
const isWaiting = (claim: IPAddressClaim, pool: PoolRef): boolean =>
  claim.metadata.labels?.[LABEL_RESERVE] === undefined &&
  !claim.status?.addressRef?.name &&
  !claim.metadata.deletionTimestamp &&
  samePool(claim.spec.poolRef, pool);

/** How long a claim we made may stay unseen by the cache before it no longer counts. */
const EXPECT_MS = 30_000;

export interface ClaimReserve {
  readonly view: ReserveView;
  /** The claims', Clusters' and IPAddresses' watches, for the allocator's reads. */
  readonly watched: Watched;
}

export function registerClaimReserve(op: Operator, options: ClaimReserveOptions): ClaimReserve {
  // One watch of every claim of ours: the reserve's (labelled with its pool's role too), and the
  // Clusters' own, whose waiting on a pool the reserve holds makes it give way.
  const claims = op.watch<IPAddressClaim & KubernetesObject>(IP_ADDRESS_CLAIM, {
    labelSelector: LABEL_ROLE,
    transform: claimMeta,
  });
  const { watched, clusters, addresses } = watchForAllocator(op, claims);
  const pools = options.kinds.map((k) => ({
    ...k,
    informer: op.watch<IPPool & KubernetesObject>(k.resource, { transform: poolMeta }),
  }));
  // Claims made and not yet in the cache, by key: the next reconcile must not make them again.
  const expected = new Map<string, Map<string, number>>();
  const ready = new Map<string, number>();
  // Seen once, a claim we made is the cache's to count (even when adopted before the next reconcile).
  claims.on(InformerEvent.Object, (_verb: string, claim: IPAddressClaim) =>
    expected.get(keyOfClaim(claim))?.delete(claim.metadata.name),
  );

  const freeOf = (pool: PoolRef, namespace?: string): IPAddressClaim[] =>
    freeClaims(claims.list(), pool, namespace);
  /** Clusters' own claims waiting on the pool (in `namespace`; everywhere when undefined). */
  const waitingOn = (pool: PoolRef, namespace?: string): IPAddressClaim[] =>
    claims
      .list()
      .filter((c) => isWaiting(c, pool) && (namespace === undefined || c.metadata.namespace === namespace));

  async function reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name: rest } = splitKey(key);
    const slash = rest.indexOf('/');
    const kind = pools.find((p) => p.kind.kind === rest.slice(0, slash));
    if (!kind) return undefined;
    const poolName = rest.slice(slash + 1);
    const ref = poolRefOf(kind.kind, poolName);
    // A cluster-scoped pool is cached under no namespace.
    const pool = kind.informer.get(namespace, poolName) ?? kind.informer.get('', poolName);
    const asked = pool ? reserveSize(pool) : { size: 0 };
    if (pool && 'problem' in asked) {
      await options.recorder.event(pool, 'Warning', 'VIPReserveInvalid', asked.problem);
    }
    const size = pool && 'size' in asked && reserveNamespaces(pool).includes(namespace) ? asked.size : 0;
    const free = freeOf(ref, namespace);
    const scope = pool?.metadata.namespace;
    // A Cluster's own claim waits on the pool (in any namespace it serves) while the reserve holds
    // its addresses: the reserve gives way, and the provider binds the waiting claim with what it frees.
    const waiting = waitingOn(ref, scope);
    if (pool && waiting.length > 0 && saysFull(pool)) {
      const giving = free
        .filter((c) => c.status?.addressRef?.name && !c.metadata.deletionTimestamp)
        .slice(0, waiting.length);
      let given = 0;
      for (const claim of giving) if (await options.store.deleteClaim(claim, { unchanged: true })) given++;
      if (given > 0) {
        await options.recorder.event(
          pool,
          'Normal',
          'VIPReserveGaveWay',
          `${waiting.length} Cluster claim(s) wait on full ${kind.kind.kind} ${poolName} (the first: IPAddressClaim ` +
            `${waiting.map((c) => `${c.metadata.namespace}/${c.metadata.name}`)[0] ?? ''}): gave back ${given} bound claim(s) of its reserve in namespace ${namespace}`,
        );
      }
    }
    const made = expected.get(key) ?? new Map<string, number>();
    expected.set(key, made);
    const now = Date.now();
    for (const [name, until] of made) if (until <= now) made.delete(name);
    const plan = refill(size, free, made.size);
    // Never more than the pool's status shows free, less the reserve's claims still binding (in
    // every namespace, for a cluster-scoped pool) and the Clusters' claims waiting: an unbound
    // reserve claim would take the next freed address from a waiting Cluster.
    const binding =
      waiting.length +
      freeOf(ref, scope).filter((c) => !c.status?.addressRef?.name).length +
      [...expected].reduce(
        (n, [k, m]) => (k.endsWith(`/${rest}`) && (!scope || k === key) ? n + m.size : n),
        0,
      );
    const room = pool ? Math.max(0, (freeAddresses(pool) ?? plan.create) - binding) : 0;
    // Counted as made before the first await: reconciles of the pool's other namespaces, running
    // meanwhile, see the room taken.
    const fresh = Array.from({ length: Math.min(plan.create, room) }, () =>
      newReserveClaim(namespace, ref, pool ? roleOf(pool) : 'control-plane'),
    );
    for (const c of fresh) made.set(c.metadata.name, now + EXPECT_MS);
    for (const c of fresh) {
      try {
        if (!(await options.store.createClaim(c))) made.delete(c.metadata.name);
      } catch (err) {
        made.delete(c.metadata.name);
        // A listed namespace that does not exist has no reserve; nothing to retry.
        if (!isNotFound(err)) throw err;
      }
    }
    // Only if unchanged since the cache saw it: a claim a replica adopted meanwhile is kept.
    for (const claim of plan.remove) await options.store.deleteClaim(claim, { unchanged: true });
    if (size === 0 && made.size === 0) expected.delete(key);
    const boundFree = free.filter((c) => c.status?.addressRef?.name && !c.metadata.deletionTimestamp);
    // Labelled by address before any Cluster adopts it: the duplicate check then reads its twins
    // from the addresses' watch, not the API server (Allocator's #twin).
    for (const claim of boundFree) {
      const address = addresses.get(namespace, claim.status?.addressRef?.name ?? '');
      if (address && !isKeyed(address)) {
        await options.store.labelAddress(address, LABEL_ADDRESS_KEY, addressKey(address));
      }
    }
    const bound = boundFree.length;
    if (bound) ready.set(key, Math.min(bound, size));
    else ready.delete(key);
    options.onReady?.([...ready.values()].reduce((a, b) => a + b, 0));
    return undefined;
  }

  /** The reserve keys of the pool a waiting claim waits on: where that pool keeps a reserve. */
  const keysOfWaiting = (claim: IPAddressClaim): string[] => {
    if (!isWaiting(claim, claim.spec.poolRef)) return [];
    const { kind: k, name } = claim.spec.poolRef;
    const found = pools.find((p) => p.kind.kind === k);
    const pool = found?.informer.get(claim.metadata.namespace, name) ?? found?.informer.get('', name);
    return pool ? reserveNamespaces(pool).map((ns) => reserveKey(ns, k, name)) : [];
  };

  const reserves = op
    .reconciler('claim-reserve', reconcile)
    .on(claims, (claim) =>
      claim.metadata.labels?.[LABEL_RESERVE] ? [keyOfClaim(claim)] : keysOfWaiting(claim),
    )
    .on(addresses, (address) => {
      // A reserve claim's address seen after the claim's binding: labelled then.
      const claim = claims.get(address.metadata.namespace, address.spec.claimRef.name);
      return claim?.metadata.labels?.[LABEL_RESERVE] ? [keyOfClaim(claim)] : [];
    });
  for (const { kind, informer } of pools) {
    reserves.on(informer, (pool) => {
      const ref = poolRefOf(kind, pool.metadata.name);
      // Where it keeps a reserve now, and where it still has one (a namespace it stopped listing).
      const namespaces = new Set([
        ...(pool.metadata.namespace ? [pool.metadata.namespace] : reserveNamespaces(pool)),
        ...freeOf(ref).map((c) => c.metadata.namespace),
      ]);
      return [...namespaces].map((ns) => reserveKey(ns, kind.kind, pool.metadata.name));
    });
  }

  // A claim adopted in a Cluster's create (the admission webhook): owned by that Cluster once it
  // exists, back in the reserve if no create that adopted it can land any more (admittedFate).
  op.reconciler('claim-admitted', async (key) => {
    const { namespace, name } = splitKey(key);
    const claim = claims.get(namespace, name);
    if (!claim || !isAdmitted(claim) || claim.metadata.deletionTimestamp || isQuarantined(claim)) {
      return undefined;
    }
    // Until the Clusters' watch has its list, no Cluster is known to be missing: look again.
    if (!clusters.status().synced) return { requeueAfterMs: 1_000 };
    const clusterName = claim.metadata.labels?.[LABEL_CLUSTER_NAME] ?? '';
    const cluster = clusterName ? clusters.get(namespace, clusterName) : undefined;
    const fate = admittedFate(claim, cluster, Date.now());
    // Both writes carry the version read: a create adopting the claim again meanwhile wins.
    if (fate.action === 'own' && cluster) {
      await options.store.patchClaim(claim, { ownerReferences: [clusterOwnerReference(cluster)] });
    } else if (fate.action === 'return') {
      await options.store.patchClaim(claim, returnMeta());
      await options.recorder.event(
        claim,
        'Normal',
        'VIPReserveReturned',
        `Adopted for Cluster ${namespace}/${clusterName} in its create, which did not land within ` +
          `${ADMITTED_BOUND_MS / 1000}s: back in the reserve`,
      );
    } else if (fate.action === 'wait') {
      return { requeueAfterMs: fate.ms };
    }
    return undefined;
  })
    .on(claims, (claim) => (isAdmitted(claim) ? [keyOf(claim)] : []))
    .on(clusters, (cluster) => {
      // The Cluster a create made, naming the claim it adopted: owned now, not at the next look.
      const claim = cluster.metadata.annotations?.[ANNOTATION_ADMITTED_CLAIM];
      return claim ? [`${cluster.metadata.namespace}/${claim}`] : [];
    });

  return { view: reserveView(() => claims.list()), watched };
}
