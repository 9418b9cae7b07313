/**
 * The product's promise (issue 23) as checks over one look at the fleet: no two Clusters carry the
 * same VIP, every VIP a Cluster carries is held by an IPAddress of one of its claims, and no claim
 * of ours outlives its Cluster unless quarantine or a reserve keeps it on purpose.
 *
 * Pure: the invariants reconciler (operator/reconcilers/invariants.ts) and the soak (hack/soak/)
 * read the lists and call `audit`; ViolationTracker tells a standing violation from what a look
 * taken in the middle of a change shows.
 */
import { clusterNameOf, clusterOwners } from './allocator/claims.js';
import { canonicalAddress } from './allocator/duplicates.js';
import { poolContains } from './allocator/pools.js';
import { ref } from './cluster.js';
import type { Regarding } from './events.js';
import { CLUSTER, IP_ADDRESS_CLAIM, typeMeta, type Gvk } from './kube/gvk.js';
import type { Cluster, IPAddress, IPAddressClaim, IPPool } from './kube/types.js';
import { isQuarantined } from './quarantine.js';
import { admittedLeftMs, isAdmitted, isFreeReserve } from './allocator/reserve.js';
import { ANNOTATION_QUARANTINE_CLUSTER_UID, VIP_ANNOTATIONS } from './vip.js';

export const VIOLATION_KINDS = ['duplicate', 'unbacked', 'leaked'] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  readonly kind: ViolationKind;
  /** The objects it is about, as messages name them (`Cluster ns/a and Cluster ns/b`). */
  readonly subject: string;
  /** What is wrong; the same words every look while nothing changes (it keys the violation). */
  readonly detail: string;
  /** Who is told (an Event each): the Clusters, or the leaked claim. */
  readonly involved: readonly Regarding[];
}

export interface AuditInput {
  readonly clusters: readonly Cluster[];
  /** Our claims (labelled with our role). */
  readonly claims: readonly IPAddressClaim[];
  /** The IPAddresses our claims are bound to (more do no harm). */
  readonly addresses: readonly IPAddress[];
  readonly pools: readonly IPPool[];
  readonly now: Date;
  /** A claim younger than this whose Cluster is missing is not leaked: it may be on its way out. */
  readonly leakGraceMs: number;
}

const short = (annotation: string): string => annotation.slice(annotation.indexOf('/') + 1);

const regarding = (
  type: Gvk,
  { metadata: { name, namespace, uid } }: Cluster | IPAddressClaim,
): Regarding => ({ ...typeMeta(type), metadata: { name, namespace, uid } });
const poolName = (pool: IPPool): string => `${pool.kind} ${ref(pool)}`;

/** The VIPs a Cluster carries, canonical, with the annotation each is in. */
function carried(cluster: Cluster): { address: string; annotation: string }[] {
  return VIP_ANNOTATIONS.flatMap((annotation) => {
    const value = cluster.metadata.annotations?.[annotation]?.trim();
    return value ? [{ address: canonicalAddress(value), annotation }] : [];
  });
}

/**
 * Whether a claim speaks for this Cluster, not for an earlier one of the same name: it names it,
 * and any Cluster owner or quarantine record it has is this Cluster's uid.
 */
function claimOf(claim: IPAddressClaim, cluster: Cluster): boolean {
  if (claim.metadata.namespace !== cluster.metadata.namespace) return false;
  if (clusterNameOf(claim) !== cluster.metadata.name) return false;
  const owners = clusterOwners(claim);
  if (owners.length > 0 && !owners.some((o) => o.uid === cluster.metadata.uid)) return false;
  const heldFor = claim.metadata.annotations?.[ANNOTATION_QUARANTINE_CLUSTER_UID];
  return !isQuarantined(claim) || heldFor === undefined || heldFor === cluster.metadata.uid;
}

function duplicates(clusters: readonly Cluster[]): Violation[] {
  const carriers = new Map<string, { cluster: Cluster; annotation: string }[]>();
  for (const cluster of clusters) {
    for (const { address, annotation } of carried(cluster)) {
      const list = carriers.get(address) ?? [];
      // One Cluster naming an address twice (two annotations) is not two carriers.
      if (!list.some((c) => c.cluster === cluster)) list.push({ cluster, annotation });
      carriers.set(address, list);
    }
  }
  return [...carriers.entries()]
    .filter(([, list]) => list.length > 1)
    .map(([address, list]) => {
      const name = (c: { cluster: Cluster }): string => `Cluster ${ref(c.cluster)}`;
      const sorted = [...list].sort((a, b) => name(a).localeCompare(name(b)));
      return {
        kind: 'duplicate',
        subject: sorted.map(name).join(' and '),
        detail: `${address} is carried by ${sorted.map((c) => `${name(c)} (${short(c.annotation)})`).join(' and ')}`,
        involved: sorted.map((c) => regarding(CLUSTER, c.cluster)),
      };
    });
}

function unbacked(input: AuditInput): Violation[] {
  const addresses = new Map(input.addresses.map((a) => [`${a.metadata.namespace}/${a.metadata.name}`, a]));
  const held = (claim: IPAddressClaim): string | undefined => {
    const name = claim.status?.addressRef?.name;
    const address = name ? addresses.get(`${claim.metadata.namespace}/${name}`) : undefined;
    return address && !address.metadata.deletionTimestamp
      ? canonicalAddress(address.spec.address)
      : undefined;
  };
  return input.clusters.flatMap((cluster) => {
    const claims = input.claims.filter((c) => claimOf(c, cluster));
    const backed = new Set(claims.map(held).filter((a) => a !== undefined));
    return carried(cluster).flatMap(({ address, annotation }): Violation[] => {
      if (backed.has(address)) return [];
      const pools = input.pools.filter((p) => poolContains(p, address));
      // A host set by hand outside every pool is published like a VIP of ours and claims nothing.
      if (pools.length === 0) return [];
      const name = `Cluster ${ref(cluster)}`;
      const inPools = pools.map(poolName).join(', ');
      const why =
        claims.length === 0
          ? `it has no IPAddressClaim of ours (it may be hand-set inside pool ${inPools})`
          : `no live IPAddress holds it for its IPAddressClaims ${claims.map((c) => c.metadata.name).join(', ')} ` +
            `(it lies in ${inPools})`;
      return [
        {
          kind: 'unbacked',
          subject: name,
          detail: `${name} carries ${address} (${short(annotation)}) and ${why}`,
          involved: [regarding(CLUSTER, cluster)],
        },
      ];
    });
  });
}

/** Why a claim is not its Cluster's (no such Cluster, or an owner that is not the live one), if it is not. */
function strayReason(claim: IPAddressClaim, named: string, cluster: Cluster | undefined): string | undefined {
  if (!cluster) return `names Cluster ${named}, which does not exist`;
  const owners = clusterOwners(claim);
  if (owners.length === 0 || owners.some((o) => o.uid === cluster.metadata.uid)) return undefined;
  return (
    `is owned by Cluster uid ${owners.map((o) => o.uid).join(', ')}, not by the live Cluster ${named} ` +
    `(uid ${cluster.metadata.uid ?? '?'})`
  );
}

function leaked(input: AuditInput): Violation[] {
  const clusters = new Map(input.clusters.map((c) => [ref(c), c]));
  return input.claims.flatMap((claim): Violation[] => {
    const name = clusterNameOf(claim);
    if (name === undefined || isQuarantined(claim) || isFreeReserve(claim)) return [];
    // Adopted in a create not landed (yet): the reserve holds it until its bound (admittedFate).
    if (isAdmitted(claim) && admittedLeftMs(claim, input.now.getTime()) > 0) return [];
    // Being deleted, or too young to tell from a claim whose Cluster's deletion is on its way.
    if (claim.metadata.deletionTimestamp) return [];
    const created = new Date(claim.metadata.creationTimestamp ?? input.now).getTime();
    if (input.now.getTime() - created < input.leakGraceMs) return [];
    const named = `${claim.metadata.namespace}/${name}`;
    const why = strayReason(claim, named, clusters.get(named));
    if (!why) return [];
    const subject = `IPAddressClaim ${ref(claim)}`;
    return [
      {
        kind: 'leaked',
        subject,
        detail: `${subject} ${why}, and neither quarantine nor a reserve holds it`,
        involved: [regarding(IP_ADDRESS_CLAIM, claim)],
      },
    ];
  });
}

/** Every violation of the promise this look at the fleet shows. */
export function audit(input: AuditInput): Violation[] {
  return [...duplicates(input.clusters), ...unbacked(input), ...leaked(input)];
}

/** How many violations of each kind, every kind present (a gauge sets its zeros too). */
export function countByKind(violations: readonly Violation[]): Record<ViolationKind, number> {
  const counts = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<ViolationKind, number>;
  for (const v of violations) counts[v.kind]++;
  return counts;
}

export const violationKey = (v: Violation): string => `${v.kind}|${v.subject}|${v.detail}`;

/**
 * Violations over successive looks. A look is several lists read one after another, so it can
 * catch a change half made: a Cluster deleted between the list of Clusters and that of its
 * addresses looks unbacked, a Cluster gone before the garbage collector took its claims leaves them
 * looking leaked. A violation stands once it has been seen in every look for `holdMs[kind]` (0:
 * at once; a duplicate comes from one list of Clusters, so it cannot be half made).
 */
export class ViolationTracker {
  readonly #holdMs: Readonly<Record<ViolationKind, number>>;
  #firstSeen = new Map<string, number>();
  #standing = new Set<string>();

  constructor(holdMs: Readonly<Record<ViolationKind, number>>) {
    this.#holdMs = holdMs;
  }

  /**
   * One look's violations, taken at `now` (ms): those that stand, those standing for the first
   * time (to be told once, not every look), and those still to be confirmed by a later look.
   */
  update(
    violations: readonly Violation[],
    now: number,
  ): { standing: Violation[]; fresh: Violation[]; pending: Violation[] } {
    const unique = [...new Map(violations.map((v) => [violationKey(v), v])).values()];
    // Only what this look shows is kept: a violation that went away starts afresh if it returns.
    this.#firstSeen = new Map(
      unique.map((v) => [violationKey(v), this.#firstSeen.get(violationKey(v)) ?? now]),
    );
    const stands = (v: Violation): boolean =>
      now - (this.#firstSeen.get(violationKey(v)) ?? now) >= this.#holdMs[v.kind];
    const standing = unique.filter(stands);
    const fresh = standing.filter((v) => !this.#standing.has(violationKey(v)));
    this.#standing = new Set(standing.map(violationKey));
    return { standing, fresh, pending: unique.filter((v) => !stands(v)) };
  }
}
