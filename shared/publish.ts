/**
 * How a Cluster is told its addresses: one patch with the endpoint, the annotations that
 * GeneratePatches and inline patches read (the Cluster is never a patch item), a label where the
 * value is a valid label value, and the original implementation's topology variables where the
 * class declares them. BeforeClusterCreate and the legacy reconciler both build it here.
 */
import { isIP, isIPv4 } from 'node:net';
import { carriesLabel } from './allocator/duplicates.js';
import type { ClusterPatch } from './kube/store.js';
import type { Cluster, ClusterClass, ClusterVariable } from './kube/types.js';
import {
  ANNOTATION_INGRESS_ENABLED,
  ANNOTATION_INGRESS_VIP,
  INGRESS_VIP_VARIABLE,
  LEGACY_VIP_VARIABLE,
  toAnnotations,
  type Vip,
} from './vip.js';

export interface Publication {
  /** The control-plane VIP: `spec.controlPlaneEndpoint` and its annotations. */
  readonly endpoint?: Vip;
  readonly ingress?: string;
}

/** The ingress VIP is on unless the Cluster opts out (the original's annotation). */
export const wantsIngress = (cluster: Cluster): boolean =>
  cluster.metadata.annotations?.[ANNOTATION_INGRESS_ENABLED] !== 'false';

const declares = (cc: ClusterClass | undefined, name: string): boolean =>
  cc?.spec?.variables?.some((v) => v.name === name) ?? false;

/**
 * The patch for a publication. Topology variables are only set where the class declares them (the
 * API server refuses undeclared ones); the caller passes no class once the topology exists, since
 * a changed variable would roll the control plane.
 */
export function clusterPatch(publication: Publication, cc?: ClusterClass): ClusterPatch {
  const { endpoint, ingress } = publication;
  const annotations: Record<string, string> = endpoint ? toAnnotations(endpoint) : {};
  const labels: Record<string, string> = {};
  const variables: ClusterVariable[] = [];
  // Each address carried is also a label, so the next allocation finds it by one selector.
  for (const address of [endpoint?.host, endpoint?.secondary, ingress]) {
    if (address && isIP(address)) labels[carriesLabel(address)] = '';
  }
  if (endpoint && declares(cc, LEGACY_VIP_VARIABLE))
    variables.push({ name: LEGACY_VIP_VARIABLE, value: endpoint.host });
  if (ingress) {
    annotations[ANNOTATION_INGRESS_VIP] = ingress;
    // A label value cannot hold ":" — IPv6 addresses are in the annotation only.
    if (isIPv4(ingress)) labels[ANNOTATION_INGRESS_VIP] = ingress;
    if (declares(cc, INGRESS_VIP_VARIABLE)) variables.push({ name: INGRESS_VIP_VARIABLE, value: ingress });
  }
  return {
    ...(endpoint ? { endpoint: { host: endpoint.host, port: endpoint.port } } : {}),
    annotations,
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(variables.length ? { variables } : {}),
  };
}
