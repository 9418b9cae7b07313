/**
 * Quarantine before reuse: a deleted Cluster's VIP is not handed out again until neighbours' ARP
 * and NDP caches and switches' tables have let go of the old holder (in-cluster IPAM #332).
 *
 * BeforeClusterDelete (before CAPI deletes anything of the Cluster) takes the Cluster's owner
 * reference off each of its claims and labels them, so the garbage collector does not delete them
 * with the Cluster and the IPAM provider keeps their addresses, whatever the provider. The grace
 * counts from when the Cluster is gone (its machines, and so its announcer, are gone before it),
 * so the quarantine reconciler writes `quarantined-until` then, and deletes the claim once it has
 * passed. Everything is on the claim: it holds across restarts and leader changes, and nothing is
 * watched or asked while no Cluster is being deleted (the watch selects the label).
 *
 * This module decides; extension/hooks/before-cluster-delete.ts and
 * operator/reconcilers/quarantine.ts do the I/O.
 */
import type { V1OwnerReference } from '@kubernetes/client-node';
import { CLUSTER } from './kube/gvk.js';
import type { Cluster, IPAddressClaim, IPPool } from './kube/types.js';
import {
  ANNOTATION_QUARANTINE_CLUSTER_UID,
  ANNOTATION_QUARANTINE_SECONDS,
  ANNOTATION_QUARANTINED_UNTIL,
  LABEL_QUARANTINE,
} from './vip.js';

export const isQuarantined = (claim: IPAddressClaim): boolean =>
  claim.metadata.labels?.[LABEL_QUARANTINE] !== undefined;

/** The IPAM provider's own reuse grace (in-cluster IPAM's `spec.addressReuseGracePeriodSeconds`, main). */
export const providerGraceSeconds = (pool: IPPool | undefined): number =>
  Math.max(0, pool?.spec?.addressReuseGracePeriodSeconds ?? 0);

/**
 * Seconds to hold a claim after its Cluster is gone: ours less what the provider holds after the
 * claim's deletion (its grace counts from there), so the two are never added up.
 */
export function holdSeconds(graceSeconds: number, pool: IPPool | undefined): number {
  return Math.max(0, Math.ceil(graceSeconds) - providerGraceSeconds(pool));
}

/** What the claim's metadata becomes: no Cluster owner, the label, how long, and whose it was. */
export function quarantineMeta(
  claim: IPAddressClaim,
  cluster: Cluster,
  seconds: number,
): {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: V1OwnerReference[];
} {
  return {
    labels: { [LABEL_QUARANTINE]: 'held' },
    annotations: {
      [ANNOTATION_QUARANTINE_SECONDS]: String(seconds),
      [ANNOTATION_QUARANTINE_CLUSTER_UID]: cluster.metadata.uid ?? '',
    },
    ownerReferences: (claim.metadata.ownerReferences ?? []).filter((o) => o.kind !== CLUSTER.kind),
  };
}

export function quarantinedUntil(claim: IPAddressClaim): Date | undefined {
  const raw = claim.metadata.annotations?.[ANNOTATION_QUARANTINED_UNTIL];
  const at = raw ? new Date(raw) : undefined;
  return at && !Number.isNaN(at.getTime()) ? at : undefined;
}

/** How often a held claim looks whether its Cluster is gone: deletions are rare, and this is one GET. */
export const CLUSTER_GONE_POLL_MS = 10_000;

export type ReleaseAction =
  /** The Cluster is still being deleted: its announcer may still hold the address. */
  | { readonly kind: 'wait'; readonly requeueAfterMs: number }
  /** The Cluster is gone: the grace starts now. */
  | { readonly kind: 'start'; readonly until: Date; readonly requeueAfterMs: number }
  | { readonly kind: 'hold'; readonly until: Date; readonly requeueAfterMs: number }
  | { readonly kind: 'release' };

/**
 * The next step for a held claim. `clusterGone`: no Cluster of its name, or one with another uid
 * (a new Cluster of the same name is not the one that held the address). `graceSeconds`: the grace
 * configured now; turned to 0, a claim held under an earlier grace is released once its Cluster is
 * gone, instead of never (nothing else would release it).
 */
export function releaseAction(
  claim: IPAddressClaim,
  clusterGone: boolean,
  now: Date,
  graceSeconds: number,
): ReleaseAction {
  if (graceSeconds <= 0)
    return clusterGone ? { kind: 'release' } : { kind: 'wait', requeueAfterMs: CLUSTER_GONE_POLL_MS };
  const until = quarantinedUntil(claim);
  if (until) {
    const left = until.getTime() - now.getTime();
    return left > 0 ? { kind: 'hold', until, requeueAfterMs: left } : { kind: 'release' };
  }
  if (!clusterGone) return { kind: 'wait', requeueAfterMs: CLUSTER_GONE_POLL_MS };
  const seconds = Number(claim.metadata.annotations?.[ANNOTATION_QUARANTINE_SECONDS] ?? 0) || 0;
  if (seconds <= 0) return { kind: 'release' };
  const start = { kind: 'start', until: new Date(now.getTime() + seconds * 1000) } as const;
  return { ...start, requeueAfterMs: seconds * 1000 };
}

export const clusterGone = (claim: IPAddressClaim, cluster: Cluster | undefined): boolean =>
  !cluster || cluster.metadata.uid !== claim.metadata.annotations?.[ANNOTATION_QUARANTINE_CLUSTER_UID];

/** For messages: "until <time>", or "for N s once its Cluster is gone". */
export function heldFor(claim: IPAddressClaim): string {
  const until = quarantinedUntil(claim);
  if (until) return `until ${until.toISOString()}`;
  const seconds = claim.metadata.annotations?.[ANNOTATION_QUARANTINE_SECONDS] ?? '?';
  return `for ${seconds}s once its Cluster is gone`;
}
