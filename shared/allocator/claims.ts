import { createHash } from 'node:crypto';
import type { V1OwnerReference } from '@kubernetes/client-node';
import { CLUSTER, IP_ADDRESS_CLAIM, typeMeta } from '../kube/gvk.js';
import type { Cluster, IPAddressClaim, PoolRef } from '../kube/types.js';
import {
  CLAIM_PREFIX,
  FAMILIES,
  LABEL_ADDRESS_IN_USE,
  LABEL_CLUSTER_NAME,
  LABEL_ROLE,
  type Family,
  type Role,
} from '../vip.js';

/**
 * One address a Cluster wants: its role, the family when one was asked for, and whether it is the
 * second claim of a dual-stack pair (the first keeps the original single-stack name).
 */
export interface Slot {
  readonly role: Role;
  readonly family?: Family;
  readonly secondary?: boolean;
}

/** Every claim a Cluster may have: each role, single-stack and either family second. */
export const ALL_SLOTS: readonly Slot[] = (Object.keys(CLAIM_PREFIX) as Role[]).flatMap((role) => [
  { role },
  ...FAMILIES.map((family) => ({ role, family, secondary: true })),
]);

/** Names stay DNS-1123 labels: the provider names the IPAddress after the claim. */
const MAX_NAME = 63;

/**
 * `vip-cp-<cluster>` as the original named it (`vip-cp-<cluster>-ipv6` for a pair's second claim);
 * `attempt` n > 0 adds `-<n+1>`: the claim made after n addresses were found already in use (the
 * earlier claims keep those addresses out of circulation). Too long, it keeps a prefix and adds a hash.
 */
export function claimName(slot: Slot, clusterName: string, attempt = 0): string {
  const suffix =
    (slot.secondary && slot.family ? `-${slot.family.toLowerCase()}` : '') +
    (attempt > 0 ? `-${attempt + 1}` : '');
  return dnsLabel(`${CLAIM_PREFIX[slot.role]}${clusterName}${suffix}`);
}

/** The name as it is when short enough; else a prefix of it and a hash of the whole. */
export function dnsLabel(name: string): string {
  if (name.length <= MAX_NAME) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_NAME - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

export function clusterOwnerReference(cluster: Cluster): V1OwnerReference {
  return {
    ...typeMeta(CLUSTER),
    name: cluster.metadata.name,
    uid: cluster.metadata.uid ?? '',
    blockOwnerDeletion: true,
  };
}

export function newClaim(cluster: Cluster, slot: Slot, pool: PoolRef, attempt = 0): IPAddressClaim {
  return {
    ...(typeMeta(IP_ADDRESS_CLAIM) as Pick<IPAddressClaim, 'apiVersion' | 'kind'>),
    metadata: {
      name: claimName(slot, cluster.metadata.name, attempt),
      namespace: cluster.metadata.namespace,
      labels: { [LABEL_CLUSTER_NAME]: cluster.metadata.name, [LABEL_ROLE]: slot.role },
      // The Cluster exists when BeforeClusterCreate runs, so the claim is owned from its first write.
      ownerReferences: [clusterOwnerReference(cluster)],
    },
    spec: { clusterName: cluster.metadata.name, poolRef: pool },
  };
}

export type Ownership = 'owned' | 'unowned' | 'foreign';

/** The claim's owner references to a Cluster (by kind: the version it was written at may be any). */
export function clusterOwners(claim: IPAddressClaim): V1OwnerReference[] {
  return (claim.metadata.ownerReferences ?? []).filter((o) => o.kind === CLUSTER.kind);
}

export const hasClusterOwner = (claim: IPAddressClaim): boolean => clusterOwners(claim).length > 0;

/**
 * Whether an existing claim is this Cluster's: owned by it, unowned (no Cluster owner and naming
 * no other Cluster: the Cluster may become its owner), or another Cluster's.
 */
export function ownership(claim: IPAddressClaim, cluster: Cluster): Ownership {
  const owners = clusterOwners(claim);
  if (owners.some((o) => o.uid === cluster.metadata.uid)) return 'owned';
  if (owners.length > 0) return 'foreign';
  const named = claim.spec.clusterName ?? claim.metadata.labels?.[LABEL_CLUSTER_NAME];
  return named === undefined || named === cluster.metadata.name ? 'unowned' : 'foreign';
}

const PREFIXES = Object.values(CLAIM_PREFIX);

/** Ours: labelled with our role, or named as the original product named its claims. */
export function isOurs(claim: IPAddressClaim): boolean {
  const name = claim.metadata.name;
  return claim.metadata.labels?.[LABEL_ROLE] !== undefined || PREFIXES.some((p) => name.startsWith(p));
}

/** The Cluster a claim is for: spec.clusterName, the cluster-name label, or the name after the prefix. */
export function clusterNameOf(claim: IPAddressClaim): string | undefined {
  const fromName = PREFIXES.find((p) => claim.metadata.name.startsWith(p));
  return (
    claim.spec.clusterName ??
    claim.metadata.labels?.[LABEL_CLUSTER_NAME] ??
    (fromName ? claim.metadata.name.slice(fromName.length) : undefined)
  );
}

/** A claim whose address something else already answered on: it keeps that address out of circulation. */
export const isInUse = (claim: IPAddressClaim): boolean =>
  claim.metadata.labels?.[LABEL_ADDRESS_IN_USE] !== undefined;
