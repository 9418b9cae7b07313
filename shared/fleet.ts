/**
 * One look at the fleet for an audit (shared/audit.ts), through the store: the invariants
 * reconciler reads it whole; `doctor`, which has listed the rest already, reads the addresses.
 */
import { clusterNameOf } from './allocator/claims.js';
import type { PoolKind } from './kube/gvk.js';
import type { Store } from './kube/store.js';
import type { Cluster, IPAddress, IPAddressClaim, IPPool } from './kube/types.js';
import { LABEL_ADDRESS_KEY, VIP_ANNOTATIONS } from './vip.js';

export interface Fleet {
  readonly clusters: Cluster[];
  /** Our claims (labelled with our role). */
  readonly claims: IPAddressClaim[];
  readonly pools: IPPool[];
  /** The IPAddresses of the claims whose Cluster carries a VIP: the only ones an audit looks up. */
  readonly addresses: IPAddress[];
}

/** IPAddresses read one by one (those without our address key): a few at a time. */
const READS_AT_ONCE = 4;

/**
 * Clusters first: a VIP seen on a Cluster was backed before it was written, so lists read after it
 * still show the backing unless something really took it away.
 */
export async function readFleet(
  store: Store,
  kinds: readonly PoolKind[],
  namespace?: string,
): Promise<Fleet> {
  const clusters = await store.listClusters(namespace);
  const claims = await store.listClaims({ namespace, labelled: true });
  // A namespaced kind listed under no namespace ('') is every namespace's pools.
  const lists = await Promise.all(kinds.map((kind) => store.listPools(kind, namespace ?? '')));
  const pools = lists.flatMap((list) => list?.pools ?? []);
  return { clusters, claims, pools, addresses: await boundAddresses(store, clusters, claims, namespace) };
}

/**
 * The IPAddresses of the claims whose Cluster carries a VIP: from one list of those carrying our
 * address key (every address published since the duplicate check labels them); only the rest are
 * read one by one.
 */
export async function boundAddresses(
  store: Store,
  clusters: readonly Cluster[],
  claims: readonly IPAddressClaim[],
  namespace?: string,
): Promise<IPAddress[]> {
  const carrying = new Set(
    clusters
      .filter((c) => VIP_ANNOTATIONS.some((a) => c.metadata.annotations?.[a]))
      .map((c) => `${c.metadata.namespace}/${c.metadata.name}`),
  );
  const wanted = claims.flatMap((c) => {
    const name = c.status?.addressRef?.name;
    const cluster = clusterNameOf(c);
    return name && cluster && carrying.has(`${c.metadata.namespace}/${cluster}`)
      ? [`${c.metadata.namespace}/${name}`]
      : [];
  });
  const keyed = await store.listAddresses(namespace, LABEL_ADDRESS_KEY);
  const byKey = new Map(keyed.map((a) => [`${a.metadata.namespace}/${a.metadata.name}`, a]));
  const missing = wanted.filter((k) => !byKey.has(k));
  const read: IPAddress[] = [];
  for (let i = 0; i < missing.length; i += READS_AT_ONCE) {
    const batch = await Promise.all(
      missing.slice(i, i + READS_AT_ONCE).map((k) => {
        const [ns = '', name = ''] = k.split('/');
        return store.getAddress(ns, name);
      }),
    );
    read.push(...batch.filter((a): a is IPAddress => a !== undefined));
  }
  return [...wanted.flatMap((k) => byKey.get(k) ?? []), ...read];
}
