/**
 * Tells the user when their VIP answers (on by default; `--report-vip-answering=false` turns it
 * off): the decision is shared/answering.ts's, from a watch that keeps only what it reads of each
 * Cluster; this shell writes what it decides. Writes happen at two transitions only: the first
 * answer (annotation `answering-since`, Event VIPAnswering, time_to_vip_answering) and a VIP that
 * stays dark after the control plane reports initialized (annotation `not-answering-since`,
 * Warning VIPNotAnswering), cleared when it answers again. Paused Clusters (clusterctl move) are
 * left alone.
 */
import { isPaused } from '../../shared/cluster.js';
import type { Store } from '../../shared/kube/store.js';
import { answeringAction, answeringView } from '../../shared/answering.js';
import type { Recorder } from '../../shared/events.js';
import { CLUSTER } from '../../shared/kube/gvk.js';
import type { Cluster } from '../../shared/kube/types.js';
import { countedKeys, keyOf, splitKey, type Operator, type ReconcileResult } from '../operator.js';

export interface VipAnsweringOptions {
  readonly store: Store;
  readonly recorder: Recorder;
  /** Seconds from the Cluster's creation to its VIP's first answer. */
  readonly onAnswering?: (seconds: number) => void;
  /** How many Clusters' VIPs are silent now. */
  readonly onSilent?: (count: number) => void;
}

export function registerVipAnswering(op: Operator, options: VipAnsweringOptions): void {
  const clusters = op.watch<Cluster>(CLUSTER, { transform: (obj) => answeringView(obj as Cluster) });
  const setSilent = countedKeys(options.onSilent);

  async function reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = splitKey(key);
    const cluster = clusters.get(namespace, name);
    const live = cluster && !cluster.metadata.deletionTimestamp && !isPaused(cluster) ? cluster : undefined;
    const action = live ? answeringAction(live) : undefined;
    setSilent(key, action?.silent === true);
    if (!live || !action) return undefined;
    if (action.annotations) await options.store.patchCluster(live, { annotations: action.annotations });
    if (action.firstAnswerSeconds !== undefined) options.onAnswering?.(action.firstAnswerSeconds);
    if (action.event)
      await options.recorder.event(live, action.event.type, action.event.reason, action.event.note);
    return action.requeueAfterMs ? { requeueAfterMs: action.requeueAfterMs } : undefined;
  }

  op.reconciler('vip-answering', reconcile).on(clusters, (cluster) => [keyOf(cluster)]);
}
