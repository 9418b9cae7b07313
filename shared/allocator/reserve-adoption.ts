/**
 * Adopting a claim from a pool's reserve for a Cluster: the reads and the guarded write.
 * reserve.ts decides what a reserve holds and what adoption writes; the Allocator asks here first
 * for a slot whose pool keeps a reserve, and claims on its own when nothing is adopted.
 */
import { randomInt } from 'node:crypto';
import { ref } from '../cluster.js';
import { isConflict, isNotFound } from '../kube/errors.js';
import type { Store } from '../kube/store.js';
import type { Cluster, IPAddressClaim, PoolRef } from '../kube/types.js';
import { isQuarantined } from '../quarantine.js';
import { ANNOTATION_QUARANTINE_CLUSTER_UID, LABEL_CLUSTER_NAME, LABEL_RESERVE, LABEL_ROLE } from '../vip.js';
import { hasClusterOwner, isInUse, type Slot } from './claims.js';
import {
  adoptionMeta,
  ANNOTATION_ADOPTED_AT,
  firstAdopted,
  isAdmitted,
  RESERVE_ADOPTED,
  type ReserveView,
} from './reserve.js';

/** Reserve claims a call tries to adopt before it claims on its own (each lost to another adopter). */
const RESERVE_TRIES = 3;

/** How long a claim adopted here is not picked again, until the reserve's cache shows it adopted. */
const TAKEN_MS = 30_000;

/**
 * One per process, over the reserve's cache. It remembers what the cache cannot show yet: the
 * claims calls of this process are adopting or have just adopted.
 */
export class ReserveAdoption {
  readonly #store: Store;
  readonly #view: ReserveView;
  /** Reserve claims being adopted by a call of this process, or just adopted (the cache lags). */
  readonly #taken = new Map<string, number>();
  /** Adoptions in flight in this process, by Cluster and role. */
  readonly #adopting = new Map<string, Promise<IPAddressClaim | undefined>>();

  constructor(store: Store, view: ReserveView) {
    this.#store = store;
    this.#view = view;
  }

  /**
   * The claim this Cluster adopted for the slot's role, else one adopted from the pool's reserve
   * now; undefined when it has none free. One adoption at a time per Cluster and role here.
   */
  async adopt(cluster: Cluster, slot: Slot, pool: PoolRef): Promise<IPAddressClaim | undefined> {
    const { namespace, name } = cluster.metadata;
    const adopted = this.#own(cluster, this.#view.adopted(namespace, name, slot.role));
    if (adopted) return cluster.metadata.uid ? adopted : this.#renew(adopted);
    const key = `${cluster.metadata.uid ?? ref(cluster)}/${slot.role}`;
    let adopting = this.#adopting.get(key);
    if (!adopting) {
      adopting = this.#adoptFree(cluster, slot, pool).finally(() => this.#adopting.delete(key));
      this.#adopting.set(key, adopting);
    }
    return adopting;
  }

  /** Whether the Cluster adopted a claim for the slot's role, even one found in use (the reserve's cache). */
  adoptedAny(cluster: Cluster, slot: Slot): boolean {
    const { namespace, name } = cluster.metadata;
    return this.#view.adopted(namespace, name, slot.role).length > 0;
  }

  /**
   * Whether a Cluster of this name owns a claim it adopted (and holds it outside quarantine): it
   * lives, so a create of the name will be refused, and adopts nothing.
   */
  ownedByName(cluster: Cluster, slot: Slot): boolean {
    const { namespace, name } = cluster.metadata;
    return this.#view
      .adopted(namespace, name, slot.role)
      .some((c) => hasClusterOwner(c) && !isQuarantined(c));
  }

  /** Whether the pool's reserve holds a bound claim this process may adopt now. */
  hasFree(namespace: string, pool: PoolRef): boolean {
    return this.#free(namespace, pool).length > 0;
  }

  /**
   * Of the claims the Cluster adopted for a role, its own (the first adopted, should calls on two
   * replicas have adopted one each); one held for an earlier Cluster of the name is not its.
   */
  #own(cluster: Cluster, adopted: readonly IPAddressClaim[]): IPAddressClaim | undefined {
    const { uid } = cluster.metadata;
    // One found in use keeps its address out of circulation; the Cluster adopts another. A Cluster
    // being created (no uid yet) has only what an earlier create of its name adopted: never a
    // claim an earlier Cluster of the name owned, held or not.
    return firstAdopted(
      adopted.filter(
        (c) =>
          !isInUse(c) &&
          (uid
            ? !isQuarantined(c) || c.metadata.annotations?.[ANNOTATION_QUARANTINE_CLUSTER_UID] === uid
            : isAdmitted(c) && !isQuarantined(c)),
      ),
    );
  }

  /**
   * Adopts a free bound claim of the pool's reserve. For a Cluster that exists, an adoption the
   * cache does not show yet (another replica's, moments ago) is looked for live first. A Cluster
   * being created skips that read: the claim its create names is its own (admittedFate), and one
   * adopted twice goes back to the reserve. Calls of this process never pick the same claim;
   * replicas may, and the write is guarded by the claim's version: the loser tries another.
   */
  async #adoptFree(cluster: Cluster, slot: Slot, pool: PoolRef): Promise<IPAddressClaim | undefined> {
    const { namespace, name } = cluster.metadata;
    const already =
      cluster.metadata.uid &&
      this.#own(
        cluster,
        await this.#store.listClaims({
          namespace,
          labelled: true,
          labels: { [LABEL_RESERVE]: RESERVE_ADOPTED, [LABEL_CLUSTER_NAME]: name, [LABEL_ROLE]: slot.role },
        }),
      );
    if (already) return already;
    const now = Date.now();
    for (const [claim, until] of this.#taken) if (until <= now) this.#taken.delete(claim);
    const free = this.#free(namespace, pool);
    // A random start spreads replicas' adopters over the reserve instead of onto its first claim.
    const start = free.length ? randomInt(free.length) : 0;
    for (let i = 0; i < Math.min(free.length, RESERVE_TRIES); i++) {
      const candidate = free[(start + i) % free.length] as IPAddressClaim;
      this.#taken.set(candidate.metadata.name, now + TAKEN_MS);
      try {
        return await this.#store.patchClaim(candidate, adoptionMeta(cluster, slot.role, new Date()));
      } catch (err) {
        // Adopted or deleted meanwhile: another.
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
    return undefined;
  }

  /**
   * A create finds the claim an earlier create of its name adopted (refused after us, then retried):
   * it is the Cluster's only while no Cluster owns it, and only with a fresh adoption time, written
   * against the version read, so that the reserve cannot take it back meanwhile (admittedFate).
   */
  async #renew(claim: IPAddressClaim): Promise<IPAddressClaim | undefined> {
    try {
      return await this.#store.patchClaim(claim, {
        annotations: { [ANNOTATION_ADOPTED_AT]: new Date().toISOString() },
      });
    } catch (err) {
      if (!isConflict(err) && !isNotFound(err)) throw err;
      return undefined;
    }
  }

  /** The pool's reserve claims this process may adopt now: bound, free and not being taken here. */
  #free(namespace: string, pool: PoolRef): IPAddressClaim[] {
    return this.#view
      .free(namespace, pool)
      .filter(
        (c) =>
          Boolean(c.status?.addressRef?.name) &&
          !c.metadata.deletionTimestamp &&
          !isInUse(c) &&
          !isQuarantined(c) &&
          !this.#taken.has(c.metadata.name),
      );
  }
}
