/**
 * Every group/version/kind this project reads or writes, in one place: the store, the operator's
 * watches, doctor and the owner references it sets all name types from here.
 */
export interface Gvk {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The REST resource: watches and raw list paths need it. */
  readonly plural: string;
}

const gvk = (group: string, version: string, kind: string, plural: string): Gvk => ({
  group,
  version,
  kind,
  plural,
});

export const CLUSTER = gvk('cluster.x-k8s.io', 'v1beta2', 'Cluster', 'clusters');
export const CLUSTER_CLASS = gvk('cluster.x-k8s.io', 'v1beta2', 'ClusterClass', 'clusterclasses');
export const EXTENSION_CONFIG = gvk(
  'runtime.cluster.x-k8s.io',
  'v1beta2',
  'ExtensionConfig',
  'extensionconfigs',
);
export const IP_ADDRESS_CLAIM = gvk('ipam.cluster.x-k8s.io', 'v1beta2', 'IPAddressClaim', 'ipaddressclaims');
export const IP_ADDRESS = gvk('ipam.cluster.x-k8s.io', 'v1beta2', 'IPAddress', 'ipaddresses');
export const IN_CLUSTER_IP_POOL = gvk(
  'ipam.cluster.x-k8s.io',
  'v1alpha2',
  'InClusterIPPool',
  'inclusterippools',
);
export const GLOBAL_IN_CLUSTER_IP_POOL = gvk(
  'ipam.cluster.x-k8s.io',
  'v1alpha2',
  'GlobalInClusterIPPool',
  'globalinclusterippools',
);

/** `group/version`, as `apiVersion` spells it. */
export const apiVersion = (t: Pick<Gvk, 'group' | 'version'>): string => `${t.group}/${t.version}`;

/** The `{apiVersion, kind}` pair client-node's KubernetesObjectApi and owner references take. */
export const typeMeta = (t: Gvk): { apiVersion: string; kind: string } => ({
  apiVersion: apiVersion(t),
  kind: t.kind,
});

/**
 * A pool kind to search (`--pool-kinds`); its `apiVersion` gives claims' `poolRef.apiGroup`.
 * Whether it is namespaced comes from API discovery, so any IPAM provider's pools fit.
 */
export interface PoolKind {
  readonly apiVersion: string;
  readonly kind: string;
}

export const DEFAULT_POOL_KINDS: readonly PoolKind[] = [
  typeMeta(IN_CLUSTER_IP_POOL),
  typeMeta(GLOBAL_IN_CLUSTER_IP_POOL),
];
