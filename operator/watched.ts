/**
 * The watches the allocator reads instead of the API server (shared/allocator/watched.ts), kept
 * with `--claim-reserve` beside the reserve's claim watch: Clusters and IPAddresses, each cut to
 * what is read of it, so a fleet's worth costs little memory.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { watched, type Held, type Watched } from '../shared/allocator/watched.js';
import { CLUSTER, IP_ADDRESS, typeMeta } from '../shared/kube/gvk.js';
import type { Cluster, IPAddress, IPAddressClaim } from '../shared/kube/types.js';
import type { ResilientInformer } from './informer.js';
import type { Operator } from './operator.js';

/** Metadata without the managed fields: what every cached object keeps of its own. */
const metadataOf = (obj: KubernetesObject): NonNullable<KubernetesObject['metadata']> =>
  Object.fromEntries(Object.entries(obj.metadata ?? {}).filter(([key]) => key !== 'managedFields'));

/** A Cluster as the watch holds it: its metadata (our annotations, labels, uid) and whether it is paused. */
export const clusterMeta = (obj: KubernetesObject): KubernetesObject => {
  const c = obj as Cluster;
  return {
    ...typeMeta(CLUSTER),
    metadata: metadataOf(obj),
    ...(c.spec?.paused ? { spec: { paused: true } } : {}),
  };
};

/** An IPAddress as the watch holds it: its metadata and spec (address, prefix, pool, claim). */
const addressMeta = (obj: KubernetesObject): KubernetesObject =>
  ({ ...typeMeta(IP_ADDRESS), metadata: metadataOf(obj), spec: (obj as IPAddress).spec }) as KubernetesObject;

const held = <T extends KubernetesObject>(informer: ResilientInformer<T>): Held<T> => ({
  get: (namespace, name) => informer.get(namespace, name),
  list: () => informer.list(),
  synced: () => informer.status().synced,
});

export interface WatchedInformers {
  readonly watched: Watched;
  readonly clusters: ResilientInformer<Cluster & KubernetesObject>;
  readonly addresses: ResilientInformer<IPAddress & KubernetesObject>;
}

/** The Clusters' and IPAddresses' watches, and the Watched over them and the claims' watch given. */
export function watchForAllocator(
  op: Operator,
  claims: ResilientInformer<IPAddressClaim & KubernetesObject>,
): WatchedInformers {
  const clusters = op.watch<Cluster & KubernetesObject>(CLUSTER, { transform: clusterMeta });
  const addresses = op.watch<IPAddress & KubernetesObject>(IP_ADDRESS, { transform: addressMeta });
  return { watched: watched(held(claims), held(addresses), held(clusters)), clusters, addresses };
}
