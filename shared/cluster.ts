/**
 * Helpers about a Cluster that every layer uses (the hooks, the reconcilers, the allocator,
 * doctor): here once, below all of them.
 */
import type { Cluster } from './kube/types.js';
import { ANNOTATION_PAUSED } from './vip.js';

/** `namespace/name` of an object, for messages (`Cluster ns/name`). */
export function ref(obj: { metadata: { namespace?: string; name: string } }): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** CAPI's pause: `spec.paused` or the `cluster.x-k8s.io/paused` annotation (clusterctl move sets both). */
export function isPaused(cluster: Cluster): boolean {
  return cluster.spec?.paused === true || cluster.metadata.annotations?.[ANNOTATION_PAUSED] !== undefined;
}

/** The ClusterClass name and namespace from a v1beta2 (`classRef`) or v1beta1 (`class`) Cluster. */
export function topologyClass(cluster: Cluster): { name: string; namespace: string } | undefined {
  const t = cluster.spec?.topology;
  const name = t?.classRef?.name ?? t?.class;
  if (!name) return undefined;
  return { name, namespace: t?.classRef?.namespace ?? t?.classNamespace ?? cluster.metadata.namespace };
}
