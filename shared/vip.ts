/** The public surface shared with the original Go implementation (gorizond/capi-vip-allocator). */
export const LABEL_CLUSTER_CLASS = 'vip.capi.gorizond.io/cluster-class';
export const LABEL_ROLE = 'vip.capi.gorizond.io/role';
export const ANNOTATION_ENABLED = 'vip.capi.gorizond.io/enabled';
export const ANNOTATION_CONTROL_PLANE_VIP = 'vip.capi.gorizond.io/control-plane-vip';
export const ANNOTATION_CONTROL_PLANE_PORT = 'vip.capi.gorizond.io/control-plane-port';
export const LABEL_CLUSTER_NAME = 'cluster.x-k8s.io/cluster-name';
export const ANNOTATION_PAUSED = 'cluster.x-k8s.io/paused';

export type Role = 'control-plane' | 'ingress';

/** Claim name prefixes by role, as the original named them (so its claims are adopted). */
export const CLAIM_PREFIX: Record<Role, string> = { 'control-plane': 'vip-cp-', ingress: 'vip-ingress-' };

export const REPORTING_CONTROLLER = 'capi-vip-allocator';

/** Prefix length of the pool the VIP came from (k0s' keepalived wants the interface's prefix). */
export const ANNOTATION_CONTROL_PLANE_PREFIX = 'vip.capi.gorizond.io/control-plane-prefix';
/** The other family's address of a dual-stack pair: a SAN, and a second kube-vip address. */
export const ANNOTATION_CONTROL_PLANE_VIP_SECONDARY = 'vip.capi.gorizond.io/control-plane-vip-secondary';
/** The variable our DiscoverVariables handler publishes (extension/profiles/variable.ts). */
export const SETTINGS_VARIABLE = 'vipAllocator';
/** The ClusterClass variable the original implementation's "legacy mode" filled with the VIP. */
export const LEGACY_VIP_VARIABLE = 'clusterVip';
