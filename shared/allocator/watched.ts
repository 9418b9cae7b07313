/**
 * Reads this process's watches answer without a request (with `--claim-reserve`, whose reconciler
 * keeps them: operator/watched.ts). Each answers `undefined` when its watch cannot say (its list
 * not in yet, or the object not seen yet): the caller then reads live, as without the watches.
 * Only reads whose staleness is safe take them (see each caller).
 */
import { canonicalAddress, carries } from './duplicates.js';
import type { Cluster, IPAddress, IPAddressClaim } from '../kube/types.js';

export interface Watched {
  /** A claim of ours (role label) by name; `null` when the synced watch holds none of the name. */
  claim(namespace: string, name: string): IPAddressClaim | null | undefined;
  /** An IPAddress by name, when the watch holds it. */
  address(namespace: string, name: string): IPAddress | undefined;
  /**
   * The other IPAddresses holding `address`'s address, once the watch holds `address` at its
   * version or a later one. A watch hears changes in the order the API server made them, so every
   * IPAddress created or labelled before that version is held too (see Allocator's #twin).
   */
  twinsOf(address: IPAddress): IPAddress[] | undefined;
  /** Clusters carrying `address` as one of their VIPs, when the Clusters' watch is synced. */
  carriers(address: string): Cluster[] | undefined;
}

/** What a watch of one kind offers: its objects by name, all of them, and whether its list is in. */
export interface Held<T> {
  get(namespace: string, name: string): T | undefined;
  list(): readonly T[];
  synced(): boolean;
}

/**
 * Whether `held` is `read`'s version or a later one. Versions are etcd revisions in every API
 * server; one that is not a number is never taken as later.
 */
function atLeast(held: IPAddress, read: IPAddress): boolean {
  const [a, b] = [held.metadata.resourceVersion, read.metadata.resourceVersion];
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) >= BigInt(b);
}

/** The Watched over three watches (the operator's informers; the fake store's maps in tests). */
export function watched(
  claims: Held<IPAddressClaim>,
  addresses: Held<IPAddress>,
  clusters: Held<Cluster>,
): Watched {
  return {
    claim: (namespace, name) => claims.get(namespace, name) ?? (claims.synced() ? null : undefined),
    address: (namespace, name) => addresses.get(namespace, name),
    twinsOf: (address) => {
      const held = addresses.get(address.metadata.namespace, address.metadata.name);
      if (!held || held.metadata.uid !== address.metadata.uid || !atLeast(held, address)) return undefined;
      const wanted = canonicalAddress(address.spec.address);
      return addresses
        .list()
        .filter(
          (a) => a.metadata.uid !== address.metadata.uid && canonicalAddress(a.spec.address) === wanted,
        );
    },
    carriers: (address) =>
      clusters.synced() ? clusters.list().filter((c) => carries(c, address)) : undefined,
  };
}
