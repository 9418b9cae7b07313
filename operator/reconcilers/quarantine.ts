/**
 * Releases held VIPs (shared/quarantine.ts decides; this shell does the I/O). Registered whatever
 * `--reuse-grace` is: turned to 0, claims held before are released, not left forever. It watches only
 * claims carrying the quarantine label, so it costs nothing while no Cluster is being deleted.
 * For each: once its Cluster is gone, `quarantined-until` is written (the grace counts from
 * there, and the write survives restarts and leader changes); once that has passed, the claim is
 * deleted and the IPAM provider frees the address. A claim deleted by hand was released early on
 * purpose: that is said, nothing else is done.
 */
import { clusterNameOf } from '../../shared/allocator/claims.js';
import type { Store } from '../../shared/kube/store.js';
import { ref } from '../../shared/cluster.js';
import type { Recorder } from '../../shared/events.js';
import { IP_ADDRESS_CLAIM } from '../../shared/kube/gvk.js';
import type { IPAddressClaim } from '../../shared/kube/types.js';
import { clusterGone, releaseAction } from '../../shared/quarantine.js';
import { ANNOTATION_QUARANTINED_UNTIL, LABEL_QUARANTINE } from '../../shared/vip.js';
import { countedKeys, keyOf, splitKey, type Operator, type ReconcileResult } from '../operator.js';

export interface QuarantineOptions {
  readonly store: Store;
  /** `--reuse-grace` now, in seconds; 0 releases claims held under an earlier grace. */
  readonly graceSeconds: number;
  readonly recorder: Recorder;
  /** How many claims are held now. */
  readonly onHeld?: (count: number) => void;
  /** A held claim was released, by us (`grace`) or by hand (`early`). */
  readonly onReleased?: (claim: IPAddressClaim, how: 'grace' | 'early') => void;
}

export function registerQuarantine(op: Operator, options: QuarantineOptions): void {
  const claims = op.watch<IPAddressClaim>(IP_ADDRESS_CLAIM, { labelSelector: LABEL_QUARANTINE });
  const setHeld = countedKeys(options.onHeld);
  // The last version seen of each held claim: a deletion we did not make is told apart by it.
  const ours = new Set<string>();
  const last = new Map<string, IPAddressClaim>();

  async function reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const claim = claims.get(namespace, name);
    // Gone from the watch: deleted, or its label taken off (the watch selects the label).
    if (!claim || claim.metadata.deletionTimestamp) {
      setHeld(key, false);
      const gone = last.get(key);
      last.delete(key);
      if (gone && !ours.delete(key)) options.onReleased?.(gone, 'early');
      return undefined;
    }
    setHeld(key, true);
    last.set(key, claim);
    const clusterName = clusterNameOf(claim) ?? '';
    const cluster = await options.store.getCluster(namespace, clusterName);
    const action = releaseAction(claim, clusterGone(claim, cluster), new Date(), options.graceSeconds);
    switch (action.kind) {
      case 'wait':
      case 'hold':
        return { requeueAfterMs: action.requeueAfterMs };
      case 'start':
        await options.store.patchClaim(claim, {
          annotations: { [ANNOTATION_QUARANTINED_UNTIL]: action.until.toISOString() },
        });
        await options.recorder.event(
          claim,
          'Normal',
          'VIPQuarantineStarted',
          `Cluster ${namespace}/${clusterName} is gone: IPAddressClaim ${ref(claim)} keeps its address out of ` +
            `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} until ${action.until.toISOString()}`,
        );
        return { requeueAfterMs: action.requeueAfterMs };
      case 'release':
        // Only as cached: a claim made since under the same name, or changed (its change brings
        // it back here), is not deleted.
        ours.add(key);
        if (!(await options.store.deleteClaim(claim, { unchanged: true }))) {
          ours.delete(key);
          return undefined;
        }
        await options.recorder.event(
          claim,
          'Normal',
          'VIPReleased',
          `${options.graceSeconds > 0 ? 'Quarantine over' : '--reuse-grace is 0: quarantine ended'}: IPAddressClaim ${ref(claim)} deleted, ` +
            `${claim.spec.poolRef.kind} ${claim.spec.poolRef.name} may hand its address out again`,
        );
        options.onReleased?.(claim, 'grace');
        return undefined;
    }
  }

  op.reconciler('quarantine', reconcile).on(claims, (claim) => [keyOf(claim)]);
}
