/**
 * The product's promise, checked on the live fleet (shared/audit.ts decides; shared/fleet.ts reads,
 * as doctor does). Every `intervalMs` the leader takes one look at the fleet and audits it. A
 * violation that stands is a Warning Event `VIPInvariantViolated` on each object involved, once
 * while it lasts (not every round), and the counts by kind are reported after every round.
 */
import { audit, countByKind, ViolationTracker, type ViolationKind } from '../../shared/audit.js';
import { DEFAULT_POOL_KINDS, type PoolKind } from '../../shared/kube/gvk.js';
import type { Store } from '../../shared/kube/store.js';
import type { Recorder } from '../../shared/events.js';
import { readFleet } from '../../shared/fleet.js';
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

/** The one key: the whole fleet is one audit. */
const FLEET = 'fleet';

export function registerInvariants(op: Operator, options: InvariantsOptions): void {
  const { store, recorder } = options;
  const kinds = options.poolKinds ?? DEFAULT_POOL_KINDS;
  const leakGraceMs = options.leakGraceMs ?? DEFAULT_LEAK_GRACE_MS;
  const tracker = new ViolationTracker({ duplicate: 0, unbacked: CONFIRM_MS, leaked: leakGraceMs });

  async function reconcile(): Promise<ReconcileResult> {
    const fleet = await readFleet(store, kinds);
    const now = new Date();
    const found = audit({ ...fleet, now, leakGraceMs });
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
