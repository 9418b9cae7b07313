/**
 * `--claim-reserve`: keeps each pool's reserve of pre-bound claims full (shared/reserve.ts
 * decides). One key per pool and namespace; a reserve claim adopted by a Cluster, bound, deleted,
 * or a pool's annotation changed, reconciles its key. Only the leader writes, and new claims take
 * the lowest free names, so a leader change never doubles a reserve.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { freeAddresses, type PoolKind } from '../../shared/allocator/pools.js';
import type { Store } from '../../shared/allocator/store.js';
import type { Recorder } from '../../shared/events.js';
import { IP_ADDRESS_CLAIM } from '../../shared/kube/gvk.js';
import type { IPAddressClaim, IPPool, PoolRef } from '../../shared/kube/types.js';
import {
  isReserve,
  newReserveClaim,
  refill,
  reserveNamespaces,
  reserveSize,
  samePool,
} from '../../shared/reserve.js';
import { LABEL_RESERVE, LABEL_ROLE, type Role } from '../../shared/vip.js';
import { splitKey, type Operator, type ReconcileResult } from '../operator.js';
import { InformerEvent, type Resource } from '../informer.js';

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

const poolRefOf = (kind: PoolKind, pool: string): PoolRef => ({
  apiGroup: kind.apiVersion.split('/')[0] ?? '',
  kind: kind.kind,
  name: pool,
});

/** A pool as the watch holds it: what says its reserve and how many addresses it has free. */
const poolMeta = (obj: KubernetesObject): KubernetesObject => {
  const pool = obj as IPPool;
  return {
    apiVersion: pool.apiVersion,
    kind: pool.kind,
    metadata: pool.metadata,
    ...(pool.status?.ipAddresses ? { status: { ipAddresses: pool.status.ipAddresses } } : {}),
  };
};

/** The role a reserve claim is labelled with until a Cluster adopts it: the one its pool serves. */
const roleOf = (pool: IPPool): Role =>
  pool.metadata.labels?.[LABEL_ROLE] === 'ingress' ? 'ingress' : 'control-plane';

/** How long a claim we made may stay unseen by the cache before it no longer counts. */
const EXPECT_MS = 30_000;

export function registerClaimReserve(op: Operator, options: ClaimReserveOptions): void {
  const claims = op.watch<IPAddressClaim>(IP_ADDRESS_CLAIM, { labelSelector: LABEL_RESERVE });
  const pools = options.kinds.map((k) => ({
    ...k,
    informer: op.watch<IPPool & KubernetesObject>(k.resource, { transform: poolMeta }),
  }));
  // Claims made and not yet in the cache, by key: the next reconcile must not make them again.
  const expected = new Map<string, Map<string, number>>();
  const ready = new Map<string, number>();
  const keyOfClaim = (claim: IPAddressClaim): string =>
    reserveKey(claim.metadata.namespace, claim.spec.poolRef.kind, claim.spec.poolRef.name);
  // Seen once, a claim we made is the cache's to count (even when adopted before the next reconcile).
  claims.on(InformerEvent.Object, (_verb: string, claim: IPAddressClaim) =>
    expected.get(keyOfClaim(claim))?.delete(claim.metadata.name),
  );

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
    const free = claims
      .list()
      .filter((c) => c.metadata.namespace === namespace && isReserve(c) && samePool(c.spec.poolRef, ref));
    const made = expected.get(key) ?? new Map<string, number>();
    expected.set(key, made);
    const now = Date.now();
    for (const [name, until] of made) if (until <= now) made.delete(name);
    const plan = refill(size, free, made.size);
    // Never more than the pool has free: an unbound reserve claim would only take the next freed
    // address from a Cluster waiting on the full pool.
    const room = pool ? (freeAddresses(pool) ?? plan.create) : 0;
    for (let i = 0; i < Math.min(plan.create, room); i++) {
      const claim = await options.store.createClaim(
        newReserveClaim(namespace, ref, pool ? roleOf(pool) : 'control-plane'),
      );
      if (claim) made.set(claim.metadata.name, now + EXPECT_MS);
    }
    for (const claim of plan.remove) await options.store.deleteClaim(claim);
    if (size === 0 && made.size === 0) expected.delete(key);
    const bound = free.filter((c) => c.status?.addressRef?.name && !c.metadata.deletionTimestamp).length;
    if (bound) ready.set(key, Math.min(bound, size));
    else ready.delete(key);
    options.onReady?.([...ready.values()].reduce((a, b) => a + b, 0));
    return undefined;
  }

  const reserves = op.reconciler('claim-reserve', reconcile).on(claims, (claim) => [keyOfClaim(claim)]);
  for (const { kind, informer } of pools) {
    reserves.on(informer, (pool) =>
      (pool.metadata.namespace ? [pool.metadata.namespace] : reserveNamespaces(pool)).map((ns) =>
        reserveKey(ns, kind.kind, pool.metadata.name),
      ),
    );
  }
}
