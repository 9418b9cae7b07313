/**
 * The product's promise, checked on the live fleet (shared/audit.ts decides; this shell reads).
 * Every `intervalMs` the leader lists the Clusters, our claims and the pools, reads the IPAddress
 * of each bound claim whose Cluster carries a VIP, and audits them. A violation that stands is a
 * Warning Event `VIPInvariantViolated` on each object involved, once while it lasts (not every
 * round), and the counts by kind are reported after every round.
 */
import {
  audit,
  countByKind,
  VIP_ANNOTATIONS,
  ViolationTracker,
  type ViolationKind,
} from '../../shared/audit.js';
import { clusterNameOf } from '../../shared/allocator/claims.js';
import { DEFAULT_POOL_KINDS, type PoolKind } from '../../shared/allocator/pools.js';
import type { Store } from '../../shared/allocator/store.js';
import { ref } from '../../shared/cluster.js';
import type { Recorder } from '../../shared/events.js';
import type { Cluster, IPAddress, IPAddressClaim } from '../../shared/kube/types.js';
import type { Operator, ReconcileResult } from '../operator.js';

export interface InvariantsOptions {
  readonly store: Store;
  readonly recorder: Recorder;
  /** How often the fleet is audited. */
  readonly intervalMs: number;
  /** The pools that tell a host set by hand (outside every pool) from an unbacked VIP. */
  readonly poolKinds?: readonly PoolKind[];
  /** How long a claim must look leaked before it is called so (its garbage collection may lag). */
  readonly leakGraceMs?: number;
  /** Hears the standing violations, counted by kind (every kind, zeros too), after every round. */
  readonly onViolations?: (counts: Readonly<Record<ViolationKind, number>>) => void;
}

/** As `--orphan-claim-grace`: a claim that old without its Cluster is past any deletion in flight. */
const DEFAULT_LEAK_GRACE_MS = 10 * 60_000;
/**
 * A look is several lists, one after another: a Cluster deleted between them looks unbacked. A
 * second look this much later confirms it.
 */
const CONFIRM_MS = 5_000;
/** IPAddresses are read one per claim: a few at a time, so a large fleet does not flood the API server. */
const READS_AT_ONCE = 4;

/** The one key: the whole fleet is one audit. */
const FLEET = 'fleet';

/** The IPAddress of each bound claim whose Cluster carries a VIP: the only ones an audit looks up. */
async function boundAddresses(
  store: Store,
  clusters: readonly Cluster[],
  claims: readonly IPAddressClaim[],
): Promise<IPAddress[]> {
  const carrying = new Set(
    clusters.filter((c) => VIP_ANNOTATIONS.some((a) => c.metadata.annotations?.[a])).map((c) => ref(c)),
  );
  const wanted = claims.flatMap((c) => {
    const name = c.status?.addressRef?.name;
    const cluster = clusterNameOf(c);
    return name && cluster && carrying.has(`${c.metadata.namespace}/${cluster}`)
      ? [{ namespace: c.metadata.namespace, name }]
      : [];
  });
  const found: IPAddress[] = [];
  for (let i = 0; i < wanted.length; i += READS_AT_ONCE) {
    const batch = wanted.slice(i, i + READS_AT_ONCE);
    const read = await Promise.all(batch.map((w) => store.getAddress(w.namespace, w.name)));
    found.push(...read.filter((a) => a !== undefined));
  }
  return found;
}

export function registerInvariants(op: Operator, options: InvariantsOptions): void {
  const { store, recorder } = options;
  const kinds = options.poolKinds ?? DEFAULT_POOL_KINDS;
  const leakGraceMs = options.leakGraceMs ?? DEFAULT_LEAK_GRACE_MS;
  const tracker = new ViolationTracker({ duplicate: 0, unbacked: CONFIRM_MS, leaked: leakGraceMs });

  async function reconcile(): Promise<ReconcileResult> {
    // Clusters first: a VIP seen on a Cluster was backed before it was written, so lists read after
    // it still show the backing unless something really took it away.
    const clusters = await store.listClusters();
    const claims = await store.listClaims({ labelled: true });
    // A namespaced kind listed under no namespace: every namespace's pools.
    const lists = await Promise.all(kinds.map((kind) => store.listPools(kind, '')));
    const pools = lists.flatMap((list) => list?.pools ?? []);
    const addresses = await boundAddresses(store, clusters, claims);
    const now = new Date();
    const found = audit({ clusters, claims, addresses, pools, now, leakGraceMs });
    const { standing, fresh, pending } = tracker.update(found, now.getTime());
    for (const violation of fresh) {
      for (const obj of violation.involved) {
        await recorder.event(
          obj,
          'Warning',
          'VIPInvariantViolated',
          `${violation.kind}: ${violation.detail}`,
        );
      }
    }
    options.onViolations?.(countByKind(standing));
    return {
      requeueAfterMs: pending.some((v) => v.kind === 'unbacked') ? CONFIRM_MS : options.intervalMs,
    };
  }

  // No watch drives it: its one key requeues itself, and the queue runs only while this replica leads.
  op.reconciler('invariants', reconcile).queue.add(FLEET);
}
