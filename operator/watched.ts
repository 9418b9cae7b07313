/**
 * The watches the allocator reads instead of the API server (shared/allocator/watched.ts), kept
 * with `--claim-reserve` beside the reserve's claim watch: Clusters (their metadata only) and
 * IPAddresses (no status), so a fleet's worth costs little memory.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { watched, type Held, type Watched } from '../shared/allocator/watched.js';
import { CLUSTER, IP_ADDRESS, typeMeta } from '../shared/kube/gvk.js';
import type { Cluster, IPAddress, IPAddressClaim } from '../shared/kube/types.js';
import type { ResilientInformer } from './informer.js';
import type { Operator } from './operator.js';

/** An IPAddress as the watch holds it: its metadata and spec (address, prefix, pool, claim). */
const addressMeta = (obj: KubernetesObject): KubernetesObject =>
  ({ ...typeMeta(IP_ADDRESS), metadata: obj.metadata, spec: (obj as IPAddress).spec }) as KubernetesObject;

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
  // Metadata is all that is read of a Cluster here (our annotations and labels, its uid): the API
  // server sends nothing else, however often CAPI writes its status.
  const clusters = op.watch<Cluster & KubernetesObject>(CLUSTER, { metadataOnly: true });
  const addresses = op.watch<IPAddress & KubernetesObject>(IP_ADDRESS, { transform: addressMeta });
  return { watched: watched(held(claims), held(addresses), held(clusters)), clusters, addresses };
}
