/**
 * A reserve of pre-bound claims (opt-in: `--claim-reserve`, and the pool's
 * `vip.capi.gorizond.io/reserve` annotation). The IPAM provider binds claims one at a time, so in
 * a burst every Cluster waits its turn behind the others. A reserve is claimed and bound ahead of
 * need; BeforeClusterCreate adopts one of its claims at once (label `reserve: adopted`, the
 * Cluster's name and role, the Cluster as owner) and the VIP is written in the same call. An
 * adopted claim keeps its own name: the allocator finds it by those labels, in the reserve's cache.
 *
 * This module decides; operator/reconcilers/claim-reserve.ts keeps the cache and refills,
 * reserve-adoption.ts adopts for the allocator.
 */
import { randomBytes } from 'node:crypto';
import { clusterOwnerReference, dnsLabel, hasClusterOwner } from './claims.js';
import { IP_ADDRESS_CLAIM, typeMeta } from '../kube/gvk.js';
import type { ClaimMeta } from '../kube/store.js';
import type { Cluster, IPAddressClaim, IPPool, PoolRef } from '../kube/types.js';
import {
  ANNOTATION_ADMITTED_CLAIM,
  ANNOTATION_RESERVE,
  ANNOTATION_RESERVE_NAMESPACES,
  LABEL_CLUSTER_NAME,
  LABEL_RESERVE,
  LABEL_ROLE,
  RESERVE_PREFIX,
  type Role,
} from '../vip.js';

/** When a Cluster adopted the claim: of two adopted at once for one Cluster, the first is kept. */
export const ANNOTATION_ADOPTED_AT = 'vip.capi.gorizond.io/adopted-at';

/** More would hold a pool's addresses for Clusters that may never come. */
export const MAX_RESERVE = 1000;

/** The reserve a pool asks for: 0 without the annotation; a bad value is a problem naming it. */
export function reserveSize(pool: Pick<IPPool, 'metadata'>): { size: number } | { problem: string } {
  const raw = pool.metadata.annotations?.[ANNOTATION_RESERVE];
  if (raw === undefined) return { size: 0 };
  // Digits only: Number() would also take `0x10`, `1e3` or `+5`, which no one means as a count.
  const digits = raw.trim();
  const size = Number(digits);
  if (!/^\d+$/.test(digits) || size > MAX_RESERVE) {
    return {
      problem: `annotation ${ANNOTATION_RESERVE}="${raw}" is not a whole number in plain digits from 0 to ${MAX_RESERVE}: no reserve is kept`,
    };
  }
  return { size };
}

/** A pool asking for a reserve of at least one claim. */
export const keepsReserve = (pool: Pick<IPPool, 'metadata'>): boolean => {
  const size = reserveSize(pool);
  return 'size' in size && size.size > 0;
};

/**
 * Where a pool's reserve is kept: a namespaced pool's own namespace; for a cluster-scoped pool,
 * each namespace its reserve-namespaces annotation lists (claims live beside their Clusters).
 */
export function reserveNamespaces(pool: Pick<IPPool, 'metadata'>): string[] {
  if (pool.metadata.namespace) return [pool.metadata.namespace];
  return (pool.metadata.annotations?.[ANNOTATION_RESERVE_NAMESPACES] ?? '')
    .split(',')
    .map((ns) => ns.trim())
    .filter(Boolean);
}

/** The reserve label's values: a claim waiting in the reserve, and one a Cluster took from it. */
export const RESERVE_FREE = 'free';
export const RESERVE_ADOPTED = 'adopted';

/** A reserve claim no Cluster has adopted yet. */
export const isFreeReserve = (claim: IPAddressClaim): boolean =>
  claim.metadata.labels?.[LABEL_RESERVE] === RESERVE_FREE;

/** A claim a Cluster adopted from a reserve (it keeps the reserve's name). */
export const isAdoptedReserve = (claim: IPAddressClaim): boolean =>
  claim.metadata.labels?.[LABEL_RESERVE] === RESERVE_ADOPTED;

/**
 * The reserve's claims as this process sees them (the reserve reconciler's cache: every claim
 * with the reserve label, free or adopted): adopting reads no list from the API server.
 */
export interface ReserveView {
  /** Free claims of the pool in the namespace. */
  free(namespace: string, pool: PoolRef): readonly IPAddressClaim[];
  /** Claims the Cluster of this name adopted for the role. */
  adopted(namespace: string, cluster: string, role: Role): readonly IPAddressClaim[];
}

/** The pool's free reserve claims among `claims`, in `namespace` (in every one when undefined). */
export const freeClaims = (
  claims: readonly IPAddressClaim[],
  pool: PoolRef,
  namespace?: string,
): IPAddressClaim[] =>
  claims.filter(
    (c) =>
      isFreeReserve(c) &&
      samePool(c.spec.poolRef, pool) &&
      (namespace === undefined || c.metadata.namespace === namespace),
  );

/** The view over the claims a cache holds (the reserve reconciler's; the fake store's in tests). */
export function reserveView(claims: () => readonly IPAddressClaim[]): ReserveView {
  return {
    free: (namespace, pool) => freeClaims(claims(), pool, namespace),
    adopted: (namespace, cluster, role) =>
      claims().filter(
        (c) =>
          c.metadata.namespace === namespace &&
          isAdoptedReserve(c) &&
          c.metadata.labels?.[LABEL_CLUSTER_NAME] === cluster &&
          c.metadata.labels[LABEL_ROLE] === role,
      ),
  };
}

export const samePool = (a: PoolRef, b: PoolRef): boolean =>
  a.kind === b.kind && a.name === b.name && a.apiGroup === b.apiGroup;

/** `vip-reserve-<pool>-<random>`: the name says whose reserve it came from, whoever adopts it. */
export const reserveClaimName = (pool: string): string =>
  dnsLabel(`${RESERVE_PREFIX}${pool}-${randomBytes(3).toString('hex')}`);

/**
 * A reserve claim: no Cluster, no owner (the reserve reconciler deletes it when its pool stops
 * asking), the role its pool serves for the claim watch; the adopter sets the Cluster's.
 */
export function newReserveClaim(namespace: string, pool: PoolRef, role: Role): IPAddressClaim {
  return {
    ...(typeMeta(IP_ADDRESS_CLAIM) as Pick<IPAddressClaim, 'apiVersion' | 'kind'>),
    metadata: {
      name: reserveClaimName(pool.name),
      namespace,
      labels: { [LABEL_RESERVE]: RESERVE_FREE, [LABEL_ROLE]: role },
    },
    spec: { poolRef: pool },
  };
}

/** What the pool's reserve in one namespace needs: how many claims to make, and which to delete. */
export interface Refill {
  readonly create: number;
  readonly remove: IPAddressClaim[];
}

/**
 * Tops the pool's free claims up to `size`, or takes the surplus away (unbound first, then the
 * newest). `expected`: claims made that the cache does not show yet, so they are not made twice.
 */
export function refill(size: number, free: readonly IPAddressClaim[], expected: number): Refill {
  const live = free.filter((c) => !c.metadata.deletionTimestamp);
  if (live.length > size) {
    const bound = (c: IPAddressClaim): number => Number(Boolean(c.status?.addressRef?.name));
    const created = (c: IPAddressClaim): number => new Date(c.metadata.creationTimestamp ?? 0).getTime();
    const surplus = [...live].sort((a, b) => bound(a) - bound(b) || created(b) - created(a));
    return { create: 0, remove: surplus.slice(0, live.length - size) };
  }
  return { create: Math.max(0, size - live.length - expected), remove: [] };
}

/**
 * Adoption: out of the reserve, the Cluster's name and role on the claim, the Cluster its owner.
 * A Cluster being admitted has no uid yet: the owner is set once it exists (see admittedFate).
 */
export function adoptionMeta(cluster: Cluster, role: Role, at: Date): ClaimMeta {
  return {
    labels: {
      [LABEL_RESERVE]: RESERVE_ADOPTED,
      [LABEL_CLUSTER_NAME]: cluster.metadata.name,
      [LABEL_ROLE]: role,
    },
    annotations: { [ANNOTATION_ADOPTED_AT]: at.toISOString() },
    ...(cluster.metadata.uid ? { ownerReferences: [clusterOwnerReference(cluster)] } : {}),
  };
}

/**
 * How long a claim adopted for a Cluster's create stays its, though no Cluster of the name exists:
 * past the API server's own limit on one request (60 s) and a client's retry of a create that another
 * admission step refused. After it, no create that adopted the claim can still land.
 */
export const ADMITTED_BOUND_MS = 120_000;

/** Adopted in a create (no Cluster owner yet). */
export const isAdmitted = (claim: IPAddressClaim): boolean =>
  isAdoptedReserve(claim) && !hasClusterOwner(claim);

/** What becomes of a claim adopted in a create, given the Cluster of its name as read now. */
export type Admitted =
  | { readonly action: 'own' }
  | { readonly action: 'return' }
  | { readonly action: 'wait'; readonly ms: number };

/** How long after its adoption a create's Cluster is looked for every second (then every 10 s). */
const ADMITTED_FRESH_MS = 10_000;

/** How long a claim adopted in a create has left of ADMITTED_BOUND_MS (0 or less: past it). */
export function admittedLeftMs(claim: IPAddressClaim, now: number): number {
  const parsed = Date.parse(claim.metadata.annotations?.[ANNOTATION_ADOPTED_AT] ?? '');
  return (Number.isNaN(parsed) ? 0 : parsed) + ADMITTED_BOUND_MS - now;
}

/**
 * A claim adopted in a create: the Cluster that carries it (by the admitted-claim annotation) becomes
 * its owner; with no such Cluster, it goes back to the reserve once ADMITTED_BOUND_MS have passed since
 * its adoption, never before (the create may still land, or be retried and find it again).
 */
export function admittedFate(claim: IPAddressClaim, cluster: Cluster | undefined, now: number): Admitted {
  if (
    cluster &&
    !cluster.metadata.deletionTimestamp &&
    cluster.metadata.annotations?.[ANNOTATION_ADMITTED_CLAIM] === claim.metadata.name
  ) {
    return { action: 'own' };
  }
  const left = admittedLeftMs(claim, now);
  if (left <= 0) return { action: 'return' };
  // The Cluster's watch event brings it back as the Cluster appears; should that be missed (a watch
  // restarting), it looks again soon while the create is fresh, then seldom.
  const fresh = ADMITTED_BOUND_MS - left < ADMITTED_FRESH_MS;
  return { action: 'wait', ms: Math.min(left, fresh ? 1_000 : 10_000) };
}

/** Back to the reserve: free again, no Cluster's name, the pool's role kept. */
export const returnMeta = (): ClaimMeta => ({
  labels: { [LABEL_RESERVE]: RESERVE_FREE, [LABEL_CLUSTER_NAME]: null },
  annotations: { [ANNOTATION_ADOPTED_AT]: null },
});

/** Of the claims adopted for one Cluster and role, the one adopted first (then by name). */
export function firstAdopted(claims: readonly IPAddressClaim[]): IPAddressClaim | undefined {
  const at = (c: IPAddressClaim): string => c.metadata.annotations?.[ANNOTATION_ADOPTED_AT] ?? '';
  return [...claims].sort(
    (a, b) => at(a).localeCompare(at(b)) || a.metadata.name.localeCompare(b.metadata.name),
  )[0];
}
