/**
 * `doctor --before-move`: what `clusterctl move` would lose or duplicate of our VIPs, checked on the
 * source before the move. clusterctl moves what hangs off a Cluster by owner references (our claims,
 * and their IPAddresses), and other objects only by the `clusterctl.cluster.x-k8s.io/move`
 * labels; it does not carry status over, refuses an already-paused Cluster, and skips a
 * cluster-scoped object that already exists on the target.
 */
import { ApiextensionsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { clusterNameOf, isInUse, isOurs } from '../../shared/allocator/claims.js';
import { isFreeReserve, reserveSize } from '../../shared/allocator/reserve.js';
import { isPaused, ref } from '../../shared/cluster.js';
import { isNotFound } from '../../shared/kube/errors.js';
import type { PoolKind } from '../../shared/kube/gvk.js';
import { Objects, type Store } from '../../shared/kube/store.js';
import { heldFor, isQuarantined } from '../../shared/quarantine.js';
import { ANNOTATION_CONTROL_PLANE_VIP, ANNOTATION_PAUSED, ANNOTATION_RESERVE } from '../../shared/vip.js';

/** clusterctl's labels: on a CRD (every object of the kind) or on one object. */
export const MOVE = 'clusterctl.cluster.x-k8s.io/move';
export const MOVE_HIERARCHY = 'clusterctl.cluster.x-k8s.io/move-hierarchy';

export interface MoveFinding {
  readonly ok: boolean;
  readonly subject: string;
  readonly detail: string;
}

const moves = (labels: Record<string, string> | undefined): boolean =>
  labels?.[MOVE] !== undefined || labels?.[MOVE_HIERARCHY] !== undefined;

/** The CRD's labels for a pool kind, or undefined when it is not served. */
async function crdLabels(kc: KubeConfig, kind: PoolKind): Promise<Record<string, string> | undefined> {
  const resource = await kc.makeApiClient(Objects).discovered(kind.apiVersion, kind.kind);
  if (!resource) return undefined;
  const group = kind.apiVersion.split('/')[0] ?? '';
  try {
    const crd = await kc
      .makeApiClient(ApiextensionsV1Api)
      .readCustomResourceDefinition({ name: `${resource.name}.${group}` });
    return crd.metadata?.labels ?? {};
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The findings for claims and Clusters in `namespace` (all when undefined). */
export async function beforeMove(
  kc: KubeConfig,
  store: Store,
  poolKinds: readonly PoolKind[],
  namespace: string | undefined,
): Promise<MoveFinding[]> {
  const findings: MoveFinding[] = [];
  const add = (ok: boolean, subject: string, detail: string): void =>
    void findings.push({ ok, subject, detail });
  const claims = (await store.listClaims({ namespace, labelled: false })).filter(isOurs);
  const clusters = await store.listClusters(namespace);

  // clusterctl refuses to start while any Cluster or ClusterClass is paused already (an
  // interrupted move leaves both so).
  for (const cc of await store.listClusterClasses(namespace)) {
    if (cc.metadata.annotations?.[ANNOTATION_PAUSED] === undefined) continue;
    add(
      false,
      `ClusterClass ${ref(cc)}`,
      `already paused (annotation ${ANNOTATION_PAUSED}): clusterctl move refuses to start; remove the annotation`,
    );
  }
  for (const c of clusters.filter(isPaused)) {
    add(
      false,
      `Cluster ${ref(c)}`,
      'already paused: clusterctl move refuses to start; unpause it or move it on its own',
    );
  }
  // A Cluster still waiting for its VIP would be claimed for again on the target.
  const claimed = new Set(claims.map((cl) => `${cl.metadata.namespace}/${clusterNameOf(cl) ?? ''}`));
  for (const c of clusters) {
    const waiting =
      c.spec?.topology &&
      !c.metadata.deletionTimestamp &&
      !c.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP];
    if (waiting && claimed.has(ref(c))) {
      add(false, `Cluster ${ref(c)}`, 'has a claim but no VIP yet: let it finish before the move');
    }
  }
  for (const claim of claims) {
    const subject = `IPAddressClaim ${ref(claim)}`;
    if (isFreeReserve(claim)) {
      add(
        false,
        subject,
        "a reserve claim: no Cluster owns it, so it stays on the source while its pool moves; set the pool's " +
          `${ANNOTATION_RESERVE} to 0 (or stop --claim-reserve) before the move, and give the target its reserve after it`,
      );
    } else if (isQuarantined(claim)) {
      add(
        false,
        subject,
        `held in quarantine ${heldFor(claim)} with no Cluster to move with: it stays on the source, and the moved ` +
          `pool may hand its address out on the target at once; move after it is released, or release it on purpose`,
      );
    } else if (!claim.status?.addressRef?.name && !isInUse(claim)) {
      add(
        false,
        subject,
        'not bound: status is not moved, so the target pool would bind it afresh, maybe to another address; wait for it to bind',
      );
    }
  }

  // Every pool our claims use must move with them (namespaced), or already be on the target (cluster-scoped).
  const seen = new Set<string>();
  for (const kind of poolKinds) {
    const crd = await crdLabels(kc, kind);
    if (crd === undefined) continue;
    for (const claim of claims.filter((c) => c.spec.poolRef.kind === kind.kind)) {
      const list = await store.listPools(kind, claim.metadata.namespace);
      const name = claim.spec.poolRef.name;
      const subject = `${kind.kind} ${list?.namespaced ? `${claim.metadata.namespace}/` : ''}${name}`;
      if (!list || seen.has(subject)) continue;
      seen.add(subject);
      const pool = list.pools.find((p) => p.metadata.name === name);
      if (!pool) add(false, subject, `not found, but IPAddressClaim ${ref(claim)} names it`);
      else if (!list.namespaced)
        add(
          true,
          subject,
          'cluster-scoped: clusterctl skips it when it exists on the target, so create it there first, with the same spec',
        );
      else if (moves(crd) || moves(pool.metadata.labels)) add(true, subject, 'moves with the namespace');
      else
        add(
          false,
          subject,
          `will not move: neither its CRD nor it carries ${MOVE} or ${MOVE_HIERARCHY}; label it ${MOVE}=""`,
        );
    }
    // On the target, a reserve binds its copy's free addresses as soon as it sees the pool, and the
    // moved Clusters' addresses are free there until clusterctl creates their IPAddresses.
    for (const pool of (await store.listPools(kind, namespace ?? ''))?.pools ?? []) {
      const reserve = reserveSize(pool);
      if (!('size' in reserve) || reserve.size === 0) continue;
      add(
        false,
        `${kind.kind} ${ref(pool)}`,
        `keeps a reserve of ${reserve.size} (${ANNOTATION_RESERVE}), even while it holds no claim: on the target, ` +
          "its copy's reserve can bind the moved Clusters' addresses before clusterctl creates their IPAddresses; " +
          "remove the annotation on the target's copy of the pool (or run the target without --claim-reserve) until the move is done",
      );
    }
  }
  return findings;
}
