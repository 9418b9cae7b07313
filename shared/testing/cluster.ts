/** For unit tests of the allocator and the hooks: a topology Cluster as CAPI shows it. */
import type { Cluster, ClusterClass } from '../kube/types.js';
import { ANNOTATION_INGRESS_ENABLED } from '../vip.js';

/** A v1beta2 topology Cluster of class `cc` in namespace `ns`, created now, ingress off unless asked. */
export const testCluster = (
  name: string,
  opts: { host?: string; annotations?: Record<string, string>; paused?: boolean; variables?: unknown } = {},
): Cluster => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: {
    name,
    namespace: 'ns',
    creationTimestamp: new Date(),
    annotations: { [ANNOTATION_INGRESS_ENABLED]: 'false', ...opts.annotations },
  },
  spec: {
    ...(opts.paused ? { paused: true } : {}),
    ...(opts.host ? { controlPlaneEndpoint: { host: opts.host, port: 6443 } } : {}),
    topology: {
      classRef: { name: 'cc' },
      version: 'v1.34.0',
      ...(opts.variables ? { variables: [{ name: 'vipAllocator', value: opts.variables }] } : {}),
    },
  },
});

/** ClusterClass `cc` in namespace `ns`, listing our GeneratePatches (`vip-allocator-generate-patches`) or not. */
export const testClusterClass = (ourPatch: boolean): ClusterClass => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'ClusterClass',
  metadata: { name: 'cc', namespace: 'ns' },
  spec: {
    patches: ourPatch
      ? [{ name: 'vip', external: { generatePatchesExtension: 'vip-allocator-generate-patches.x' } }]
      : [],
  },
});
