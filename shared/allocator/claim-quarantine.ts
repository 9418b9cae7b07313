/**
 * Quarantine's reads and writes on claims: holding a deleted Cluster's claims, and finding those
 * held on a pool. shared/quarantine.ts decides (how long, what the claim's metadata becomes);
 * the Allocator delegates here.
 */
import type { Store } from '../kube/store.js';
import type { Cluster, IPAddressClaim, PoolRef } from '../kube/types.js';
import {
  holdSeconds,
  isQuarantined,
  providerGraceSeconds,
  quarantinedUntil,
  quarantineMeta,
} from '../quarantine.js';
import { LABEL_CLUSTER_NAME } from '../vip.js';
import { ALL_SLOTS, isInUse, ownership, type Slot } from './claims.js';
import type { PoolKinds } from './pool-kinds.js';

/** A claim BeforeClusterDelete took out of its Cluster's hands. */
export interface Held {
  readonly claim: IPAddressClaim;
  readonly address: string;
  /** Seconds it is held once the Cluster is gone; 0 when the provider's own grace covers ours. */
  readonly seconds: number;
  readonly providerSeconds: number;
}

/** The slot's claim under the Cluster's names, past those found in use (Allocator.claimOf). */
export type NamedClaim = (cluster: Cluster, slot: Slot) => Promise<IPAddressClaim | undefined>;

export class ClaimQuarantine {
  readonly #store: Store;
  readonly #pools: PoolKinds;
  readonly #named: NamedClaim;

  constructor(store: Store, pools: PoolKinds, named: NamedClaim) {
    this.#store = store;
    this.#pools = pools;
    this.#named = named;
  }

  /**
   * Before CAPI deletes the Cluster: each claim it owns is taken out of its hands and labelled, so
   * it outlives the Cluster and its address stays out of its pool for the grace (less whatever the
   * pool's provider holds on its own). A claim the provider's grace covers is left to it.
   */
  async hold(cluster: Cluster, graceSeconds: number): Promise<Held[]> {
    const namespace = cluster.metadata.namespace;
    const held: Held[] = [];
    const named = await Promise.all(ALL_SLOTS.map((slot) => this.#named(cluster, slot)));
    // Claims not under the slot's first name (a reserve claim it adopted, or the one made after that
    // was found in use) are found by the Cluster's label, whatever the flags are now.
    const labelled = await this.#store.listClaims({
      namespace,
      labelled: true,
      labels: { [LABEL_CLUSTER_NAME]: cluster.metadata.name },
    });
    const claims = new Map<string, IPAddressClaim>();
    for (const c of [...named, ...labelled.filter((c) => !isInUse(c))])
      if (c) claims.set(c.metadata.uid ?? c.metadata.name, c);
    for (const claim of claims.values()) {
      if (claim.metadata.deletionTimestamp || ownership(claim, cluster) !== 'owned') continue;
      const addressName = claim.status?.addressRef?.name;
      const address = addressName
        ? (await this.#store.getAddress(namespace, addressName))?.spec.address
        : undefined;
      // An address never bound was never announced: nothing for neighbours to forget.
      if (!address) continue;
      const pool = await this.#pools.poolOf(claim.spec.poolRef, namespace);
      const seconds = holdSeconds(graceSeconds, pool);
      if (seconds > 0 && !isQuarantined(claim)) {
        await this.#store.patchClaim(claim, quarantineMeta(claim, cluster, seconds));
      }
      held.push({ claim, address, seconds, providerSeconds: providerGraceSeconds(pool) });
    }
    return held;
  }

  /** Claims held in quarantine on a pool, soonest released first (only asked when the pool is full). */
  async heldOn(pool: PoolRef, namespace: string): Promise<IPAddressClaim[]> {
    const claims = await this.#store.listClaims({
      namespace: await this.#pools.scopeOf(pool, namespace),
      labelled: true,
    });
    const until = (c: IPAddressClaim): number => quarantinedUntil(c)?.getTime() ?? Infinity;
    return claims
      .filter(
        (c) => isQuarantined(c) && c.spec.poolRef.kind === pool.kind && c.spec.poolRef.name === pool.name,
      )
      .sort((a, b) => until(a) - until(b));
  }
}
