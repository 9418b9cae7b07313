/** The public surface shared with the original Go implementation (gorizond/capi-vip-allocator). */
export const LABEL_CLUSTER_CLASS = 'vip.capi.gorizond.io/cluster-class';
export const LABEL_ROLE = 'vip.capi.gorizond.io/role';
export const ANNOTATION_ENABLED = 'vip.capi.gorizond.io/enabled';
export const ANNOTATION_CONTROL_PLANE_VIP = 'vip.capi.gorizond.io/control-plane-vip';
export const ANNOTATION_CONTROL_PLANE_PORT = 'vip.capi.gorizond.io/control-plane-port';
export const LABEL_CLUSTER_NAME = 'cluster.x-k8s.io/cluster-name';
export const ANNOTATION_PAUSED = 'cluster.x-k8s.io/paused';

export type Role = 'control-plane' | 'ingress';
export type Family = 'IPv4' | 'IPv6';
export const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

/** `"false"` opts a Cluster out of the ingress VIP (the original's annotation). */
export const ANNOTATION_INGRESS_ENABLED = 'vip.capi.gorizond.io/ingress-enabled';
/** The ingress VIP: an annotation always, a label of the same key where the value is valid (IPv4). */
export const ANNOTATION_INGRESS_VIP = 'vip.capi.gorizond.io/ingress-vip';
/** `IPv4,IPv6`-style family list for a Cluster whose class has no discovered variables. */
export const ANNOTATION_IP_FAMILIES = 'vip.capi.gorizond.io/ip-families';
/** When a replica last brought a waiting Cluster back from CAPI's backoff (extension/nudge.ts). */
export const ANNOTATION_NUDGED = 'vip.capi.gorizond.io/nudged-at';
/** The ClusterClass variable the original filled with the ingress VIP. */
export const INGRESS_VIP_VARIABLE = 'ingressVip';

/** Claim name prefixes by role, as the original named them (so its claims are adopted). */
export const CLAIM_PREFIX: Record<Role, string> = { 'control-plane': 'vip-cp-', ingress: 'vip-ingress-' };

export const REPORTING_CONTROLLER = 'capi-vip-allocator';

/** Prefix length of the pool the VIP came from (k0s' keepalived wants the interface's prefix). */
export const ANNOTATION_CONTROL_PLANE_PREFIX = 'vip.capi.gorizond.io/control-plane-prefix';
/** Prefix length of the pool the dual-stack pair's second address came from (its own VRRP instance). */
export const ANNOTATION_CONTROL_PLANE_PREFIX_SECONDARY =
  'vip.capi.gorizond.io/control-plane-prefix-secondary';
/** The other family's address of a dual-stack pair: a SAN, and a second kube-vip address. */
export const ANNOTATION_CONTROL_PLANE_VIP_SECONDARY = 'vip.capi.gorizond.io/control-plane-vip-secondary';
/** The variable our DiscoverVariables handler publishes (extension/profiles/variable.ts). */
export const SETTINGS_VARIABLE = 'vipAllocator';
/** Every annotation through which a Cluster carries a VIP of ours. */
export const VIP_ANNOTATIONS = [
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_CONTROL_PLANE_VIP_SECONDARY,
  ANNOTATION_INGRESS_VIP,
] as const;
/** The ClusterClass variable the original implementation's "legacy mode" filled with the VIP. */
export const LEGACY_VIP_VARIABLE = 'clusterVip';
/** On IPAddresses bound to our claims: a hash of pool and address, so twins are found by label. */
export const LABEL_ADDRESS_KEY = 'vip.capi.gorizond.io/address-key';
/**
 * On a Cluster, one label per address it carries, `<prefix><key of the address>: ""`: an address a
 * Cluster carries is found by one label selector even when no IPAddress holds it any more (its
 * pool deleted by force) or it was set by hand.
 */
export const CARRIES_LABEL_PREFIX = 'carries.vip.capi.gorizond.io/';
/** When CAPI's probe first reached the Cluster's API server through its VIP (shared/answering.ts). */
export const ANNOTATION_ANSWERING_SINCE = 'vip.capi.gorizond.io/answering-since';
/** Set while the control plane reports initialized and the VIP does not answer; removed when it does. */
export const ANNOTATION_NOT_ANSWERING_SINCE = 'vip.capi.gorizond.io/not-answering-since';
/**
 * A deleted Cluster's claim held out of its pool (shared/quarantine.ts): the label selects them,
 * the annotations say for how long after the Cluster is gone, which Cluster it was, and until when.
 */
export const LABEL_QUARANTINE = 'vip.capi.gorizond.io/quarantine';
export const ANNOTATION_QUARANTINE_SECONDS = 'vip.capi.gorizond.io/quarantine-seconds';
export const ANNOTATION_QUARANTINE_CLUSTER_UID = 'vip.capi.gorizond.io/quarantine-cluster-uid';
export const ANNOTATION_QUARANTINED_UNTIL = 'vip.capi.gorizond.io/quarantined-until';
/**
 * On a claim bound to an address something already answered on before we published it
 * (shared/probe.ts): it stays, owned by its Cluster, so the pool cannot hand that address out
 * again; the annotation says what answered and when.
 */
export const LABEL_ADDRESS_IN_USE = 'vip.capi.gorizond.io/address-in-use';
export const ANNOTATION_ADDRESS_IN_USE = 'vip.capi.gorizond.io/address-in-use';
/**
 * A reserve of pre-bound claims (`--claim-reserve`, shared/reserve.ts). On a pool, the annotation
 * asks for that many claims bound ahead of need, in the pool's namespace or, for a cluster-scoped
 * pool, in each namespace the second annotation lists. The label marks the reserve's claims:
 * `free`, or `adopted` once a Cluster took one (its cluster-name label then says whose it is).
 */
export const ANNOTATION_RESERVE = 'vip.capi.gorizond.io/reserve';
export const ANNOTATION_RESERVE_NAMESPACES = 'vip.capi.gorizond.io/reserve-namespaces';
export const LABEL_RESERVE = 'vip.capi.gorizond.io/reserve';
/** Name prefix of a reserve claim: `vip-reserve-<pool>-<n>`. */
export const RESERVE_PREFIX = 'vip-reserve-';
