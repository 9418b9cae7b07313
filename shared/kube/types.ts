/**
 * The parts of CAPI's, the IPAM contract's and the in-cluster provider's types this project reads
 * and writes, from their CRDs (cluster.x-k8s.io v1beta1/v1beta2, ipam.cluster.x-k8s.io v1beta2,
 * in-cluster pools v1alpha2) and from the runtime hooks' Go types (hooks.runtime.cluster.x-k8s.io/v1alpha1).
 */
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';

export interface ObjectMeta extends V1ObjectMeta {
  name: string;
}

export interface NamespacedMeta extends ObjectMeta {
  namespace: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  /** RFC 3339; changes only when `status` does. */
  lastTransitionTime?: string;
}

export interface ControlPlaneEndpoint {
  host?: string;
  port?: number;
}

/** Cluster as hook requests carry it: v1beta2 since CAPI 1.13 (`classRef`), v1beta1 before (`class`). */
export interface Cluster {
  apiVersion: 'cluster.x-k8s.io/v1beta2' | 'cluster.x-k8s.io/v1beta1';
  kind: 'Cluster';
  metadata: NamespacedMeta;
  spec?: {
    paused?: boolean;
    controlPlaneEndpoint?: ControlPlaneEndpoint;
    infrastructureRef?: { apiGroup?: string; apiVersion?: string; kind?: string; name?: string };
    controlPlaneRef?: { apiGroup?: string; apiVersion?: string; kind?: string; name?: string };
    topology?: {
      /** v1beta2 */
      classRef?: { name: string; namespace?: string };
      /** v1beta1 */
      class?: string;
      classNamespace?: string;
      version?: string;
      variables?: ClusterVariable[];
    };
  };
  /** v1beta2 (CAPI ≥ 1.11 stores v1beta2 conditions here). */
  status?: { conditions?: Condition[]; initialization?: { controlPlaneInitialized?: boolean } };
}

export interface ClusterClass {
  apiVersion: string;
  kind: 'ClusterClass';
  metadata: NamespacedMeta;
  spec?: {
    /** v1beta2 `templateRef`; v1beta1 `ref`. */
    controlPlane?: { templateRef?: { kind?: string; name?: string }; ref?: { kind?: string; name?: string } };
    /** Inline definitions only; definitions from DiscoverVariables land in `status.variables`. */
    variables?: { name: string }[];
    patches?: {
      name: string;
      external?: { generatePatchesExtension?: string; discoverVariablesExtension?: string };
    }[];
  };
}

/** `spec.topology.variables[]` of a Cluster: the value is any JSON the class's schema allows. */
export interface ClusterVariable {
  name: string;
  value: unknown;
}

export interface PoolRef {
  apiGroup: string;
  kind: string;
  name: string;
}

export interface IPAddressClaim {
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2';
  kind: 'IPAddressClaim';
  metadata: NamespacedMeta & { ownerReferences?: V1OwnerReference[] };
  spec: { clusterName?: string; poolRef: PoolRef };
  status?: { addressRef?: { name?: string }; conditions?: Condition[] };
}

export interface IPAddress {
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2';
  kind: 'IPAddress';
  metadata: NamespacedMeta;
  spec: { address: string; prefix?: number; gateway?: string; claimRef: { name: string }; poolRef: PoolRef };
}

/** InClusterIPPool / GlobalInClusterIPPool (v1alpha2), and any pool kind with the same shape. */
export interface IPPool {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: {
    addresses?: string[];
    prefix?: number;
    gateway?: string;
    excludedAddresses?: string[];
    /** In-cluster IPAM's own reuse grace (its main branch, PR #387; in no release yet). */
    addressReuseGracePeriodSeconds?: number;
  };
  status?: { ipAddresses?: { total?: number; free?: number; used?: number; outOfRange?: number } };
}

export const HOOKS_API_VERSION = 'hooks.runtime.cluster.x-k8s.io/v1alpha1';

export type ResponseStatus = 'Success' | 'Failure';

export interface BeforeClusterCreateRequest {
  apiVersion: typeof HOOKS_API_VERSION;
  kind: 'BeforeClusterCreateRequest';
  settings?: Record<string, string>;
  cluster: Cluster;
}

/** api/runtime/hooks/v1alpha1/lifecyclehooks_types.go: called before CAPI deletes anything of a topology Cluster. */
export interface BeforeClusterDeleteRequest {
  apiVersion: typeof HOOKS_API_VERSION;
  kind: 'BeforeClusterDeleteRequest';
  settings?: Record<string, string>;
  cluster: Cluster;
}

export interface RetryResponse {
  status: ResponseStatus;
  message?: string;
  retryAfterSeconds: number;
}

export interface Variable {
  name: string;
  value: unknown;
}

export interface HolderReference {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  fieldPath: string;
}

export interface TemplateObject {
  apiVersion: string;
  kind: string;
  metadata?: V1ObjectMeta;
  spec?: Record<string, unknown>;
}

export interface GeneratePatchesRequest {
  apiVersion: typeof HOOKS_API_VERSION;
  kind: 'GeneratePatchesRequest';
  settings?: Record<string, string>;
  variables?: Variable[];
  items: { uid: string; holderReference: HolderReference; object: TemplateObject; variables?: Variable[] }[];
}

export interface DiscoverVariablesRequest {
  apiVersion: typeof HOOKS_API_VERSION;
  kind: 'DiscoverVariablesRequest';
  settings?: Record<string, string>;
}

/** OpenAPI v3 subset CAPI's `JSONSchemaProps` accepts (api/core/v1beta2/clusterclass_types.go). */
export interface JSONSchemaProps {
  type: 'object' | 'string' | 'boolean' | 'integer' | 'array';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  items?: JSONSchemaProps;
  maxItems?: number;
  uniqueItems?: boolean;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  enum?: unknown[];
}

/**
 * One variable definition in a DiscoverVariablesResponse. `required` is always sent: v1beta1
 * managers (CAPI < 1.13) require the field, v1beta2 ones take it as optional.
 */
export interface VariableDefinition {
  name: string;
  required: boolean;
  schema: { openAPIV3Schema: JSONSchemaProps };
}

export interface GeneratePatchesResponseItem {
  uid: string;
  patchType: 'JSONPatch' | 'JSONMergePatch';
  /** base64 of the JSON patch: `[]byte` on the Go side. */
  patch: string;
}
