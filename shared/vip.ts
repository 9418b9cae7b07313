/**
 * Every label, annotation, variable and name the product puts on objects or reads from them
 * (docs/reference/labels-annotations.md is generated from these constants), and the VIP's shape as
 * a Cluster's annotations carry it. Grouped by whose they are: the original Go implementation's
 * (gorizond/capi-vip-allocator up to v0.7), kept so its pools, claims and classes work unchanged;
 * CAPI's; and ours.
 */
import { isIP } from 'node:net';

export type Role = 'control-plane' | 'ingress';
export type Family = 'IPv4' | 'IPv6';
export const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

// The original Go implementation's.

export const LABEL_CLUSTER_CLASS = 'vip.capi.gorizond.io/cluster-class';
export const LABEL_ROLE = 'vip.capi.gorizond.io/role';
/** `"false"` opts a Cluster out of the ingress VIP (the original's annotation). */
export const ANNOTATION_INGRESS_ENABLED = 'vip.capi.gorizond.io/ingress-enabled';
/** The ingress VIP: an annotation always, a label of the same key where the value is valid (IPv4), as the original wrote it. */
export const ANNOTATION_INGRESS_VIP = 'vip.capi.gorizond.io/ingress-vip';
/** The ClusterClass variable the original filled with the ingress VIP. */
export const INGRESS_VIP_VARIABLE = 'ingressVip';
/** The ClusterClass variable the original implementation's "legacy mode" filled with the VIP. */
export const LEGACY_VIP_VARIABLE = 'clusterVip';
/** Claim name prefixes by role, as the original named them (so its claims are adopted). */
export const CLAIM_PREFIX: Record<Role, string> = { 'control-plane': 'vip-cp-', ingress: 'vip-ingress-' };

// CAPI's.

export const LABEL_CLUSTER_NAME = 'cluster.x-k8s.io/cluster-name';
export const ANNOTATION_PAUSED = 'cluster.x-k8s.io/paused';

// Ours.

export const ANNOTATION_ENABLED = 'vip.capi.gorizond.io/enabled';
export const ANNOTATION_CONTROL_PLANE_VIP = 'vip.capi.gorizond.io/control-plane-vip';
export const ANNOTATION_CONTROL_PLANE_PORT = 'vip.capi.gorizond.io/control-plane-port';
/** `IPv4,IPv6`-style family list for a Cluster whose class has no discovered variables. */
export const ANNOTATION_IP_FAMILIES = 'vip.capi.gorizond.io/ip-families';
/** When a replica last brought a waiting Cluster back from CAPI's backoff (extension/nudge.ts). */
export const ANNOTATION_NUDGED = 'vip.capi.gorizond.io/nudged-at';

export const REPORTING_CONTROLLER = 'capi-vip-allocator';

/** Prefix length of the pool the VIP came from (k0s' keepalived wants the interface's prefix). */
export const ANNOTATION_CONTROL_PLANE_PREFIX = 'vip.capi.gorizond.io/control-plane-prefix';
/** Prefix length of the pool the dual-stack pair's second address came from (its own VRRP instance). */
export const ANNOTATION_CONTROL_PLANE_PREFIX_SECONDARY =
  'vip.capi.gorizond.io/control-plane-prefix-secondary';
/** The other family's address of a dual-stack pair: a SAN, and a second kube-vip address. */
export const ANNOTATION_CONTROL_PLANE_VIP_SECONDARY = 'vip.capi.gorizond.io/control-plane-vip-secondary';
/** The variable our DiscoverVariables handler publishes (shared/vip-allocator-variable.ts). */
export const SETTINGS_VARIABLE = 'vipAllocator';
/** Every annotation through which a Cluster carries a VIP of ours. */
export const VIP_ANNOTATIONS = [
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_CONTROL_PLANE_VIP_SECONDARY,
  ANNOTATION_INGRESS_VIP,
] as const;
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
 * (shared/in-use-probe.ts): it stays, owned by its Cluster, so the pool cannot hand that address out
 * again; the annotation says what answered and when.
 */
export const LABEL_ADDRESS_IN_USE = 'vip.capi.gorizond.io/address-in-use';
export const ANNOTATION_ADDRESS_IN_USE = 'vip.capi.gorizond.io/address-in-use';
/**
 * A reserve of pre-bound claims (`--claim-reserve`, shared/allocator/reserve.ts). On a pool, the
 * annotation asks for that many claims bound ahead of need, in the pool's namespace or, for a
 * cluster-scoped pool, in each namespace the second annotation lists. The label marks the reserve's
 * claims: `free`, or `adopted` once a Cluster took one (its cluster-name label then says whose it is).
 */
export const ANNOTATION_RESERVE = 'vip.capi.gorizond.io/reserve';
export const ANNOTATION_RESERVE_NAMESPACES = 'vip.capi.gorizond.io/reserve-namespaces';
export const LABEL_RESERVE = 'vip.capi.gorizond.io/reserve';
/**
 * On a Cluster given its endpoint in its own create (the mutating webhook, `--endpoint-at-create`):
 * the reserve claim it adopted then. The claim gets the Cluster as owner once the Cluster exists;
 * a claim adopted for a create that never landed goes back to the reserve (claim-reserve.ts).
 */
export const ANNOTATION_ADMITTED_CLAIM = 'vip.capi.gorizond.io/admitted-claim';
/** Name prefix of a reserve claim: `vip-reserve-<pool>-<n>`. */
export const RESERVE_PREFIX = 'vip-reserve-';

// The VIP's shape.

/** Host and port together: CAPI treats an endpoint without a port as unset. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * A Cluster's control-plane VIP: the endpoint, the prefix length of the pool it came from, and a
 * dual-stack pair's second address with its pool's prefix length. Patches cannot read
 * `spec.controlPlaneEndpoint`, so it travels in the Cluster's annotations: written by toAnnotations,
 * read back by fromAnnotations.
 */
export interface Vip extends Endpoint {
  readonly prefix?: number;
  readonly secondary?: string;
  readonly secondaryPrefix?: number;
}

export function toAnnotations(vip: Vip): Record<string, string> {
  return {
    [ANNOTATION_CONTROL_PLANE_VIP]: vip.host,
    [ANNOTATION_CONTROL_PLANE_PORT]: String(vip.port),
    ...(vip.prefix ? { [ANNOTATION_CONTROL_PLANE_PREFIX]: String(vip.prefix) } : {}),
    ...(vip.secondary ? { [ANNOTATION_CONTROL_PLANE_VIP_SECONDARY]: vip.secondary } : {}),
    ...(vip.secondary && vip.secondaryPrefix
      ? { [ANNOTATION_CONTROL_PLANE_PREFIX_SECONDARY]: String(vip.secondaryPrefix) }
      : {}),
  };
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

/**
 * The VIP a Cluster's annotations carry, or undefined when they carry none; a malformed value is an
 * error naming `cluster` (`namespace/name`) and the annotation. No port annotation: `defaultPort`.
 */
export function fromAnnotations(
  annotations: Readonly<Record<string, string>>,
  cluster: string,
  defaultPort: number,
): Vip | undefined {
  const malformed = (key: string, value: string, what: string): Error =>
    new Error(`Annotation ${key} on Cluster ${cluster} is not ${what}: "${value}"`);
  const host = annotations[ANNOTATION_CONTROL_PLANE_VIP];
  if (!host) return undefined;
  // An IP, or the DNS name of an endpoint set by hand.
  if (!isIP(host) && !HOSTNAME.test(host)) {
    throw malformed(ANNOTATION_CONTROL_PLANE_VIP, host, 'an IP address or a DNS name');
  }
  const rawPort = annotations[ANNOTATION_CONTROL_PLANE_PORT];
  const port = Number(rawPort ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw malformed(ANNOTATION_CONTROL_PLANE_PORT, rawPort ?? '', 'a port');
  }
  const secondary = annotations[ANNOTATION_CONTROL_PLANE_VIP_SECONDARY];
  if (secondary !== undefined && !isIP(secondary)) {
    throw malformed(ANNOTATION_CONTROL_PLANE_VIP_SECONDARY, secondary, 'an IP address');
  }
  const prefixOf = (key: string, address: string): number | undefined => {
    const raw = annotations[key];
    if (raw === undefined) return undefined;
    const prefix = Number(raw);
    if (!(Number.isInteger(prefix) && prefix >= 1 && prefix <= (isIP(address) === 6 ? 128 : 32))) {
      throw malformed(key, raw, `a prefix length for ${address}`);
    }
    return prefix;
  };
  const prefix = prefixOf(ANNOTATION_CONTROL_PLANE_PREFIX, host);
  const secondaryPrefix = secondary && prefixOf(ANNOTATION_CONTROL_PLANE_PREFIX_SECONDARY, secondary);
  return {
    host,
    port,
    ...(secondary ? { secondary } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
    ...(secondaryPrefix ? { secondaryPrefix } : {}),
  };
}
