/**
 * BeforeClusterCreate, the hook: give the Cluster its control-plane VIP (or dual-stack pair), and
 * its ingress VIP where a pool serves one, before CAPI creates any topology object. The request
 * carries a copy of the Cluster, so addresses are written through the API and the hook asks to be
 * called again; it answers Success only once the Cluster it is shown already carries the VIP, so
 * the rest of that reconcile (patches, builtins) sees it. The ingress VIP never holds the
 * control-plane VIP back.
 *
 * This is the shell: a loop that reads what `decide` (decide.ts) asks for, so each path reads only
 * what it needs, then carries the outcome out (the patch, Events, metrics, what calls remember).
 */
import {
  ClaimConflictError,
  type Allocation,
  type Allocator,
  type SlotClaim,
} from '../../../shared/allocator/allocator.js';
import type { Slot } from '../../../shared/allocator/claims.js';
import { poolContains } from '../../../shared/allocator/pools.js';
import { carries } from '../../../shared/allocator/duplicates.js';
import { ClusterChangedError, type ClusterPatch } from '../../../shared/kube/store.js';
import { ref, topologyClass } from '../../../shared/cluster.js';
import type { Recorder } from '../../../shared/events.js';
import type { BeforeClusterCreateRequest, Cluster, ClusterClass } from '../../../shared/kube/types.js';
import { clusterKeys, type Logger } from '../../../shared/log.js';
import { HANDLER_SUFFIX, HOOK_MARGIN_MS, HOOK_TIMEOUT_SECONDS } from '../../../shared/protocol.js';
import { clusterPatch, wantsIngress } from '../../../shared/publish.js';
import { ANNOTATION_ADMITTED_CLAIM } from '../../../shared/vip.js';
import { BindingTracker, COMPLETION_WAIT_MS } from '../../binding-tracker.js';
import type { CallContext, Handler, HookResponse } from '../../server.js';
import { beforeClusterCreateRequest } from '../../validate.js';
import {
  controlPlaneSlots,
  decide,
  INGRESS,
  isConflict,
  noIngressVip,
  retry,
  RETRY,
  type Allocated,
  type Conflict,
  type Facts,
  type Need,
  type Settings,
} from './decide.js';

/** A claim of the Cluster's name that another Cluster holds is a conflict to answer, not an error. */
async function unlessConflict<T>(work: Promise<T>): Promise<T | Conflict> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof ClaimConflictError)) throw err;
    return { conflict: err.message };
  }
}

export interface BeforeClusterCreateDeps extends Settings {
  readonly allocator: Allocator;
  readonly recorder: Recorder;
  readonly patchCluster: (cluster: Cluster, patch: ClusterPatch) => Promise<void>;
  readonly getClusterClass: (namespace: string, name: string) => Promise<ClusterClass | undefined>;
  readonly allocationWaitMs: number;
  /** Counts each allocation outcome by role and family (metrics). */
  readonly observe?: (slot: Slot, result: string) => void;
  /** Seconds from the Cluster's creation to its VIP being written (metrics). */
  readonly observeTimeToVip?: (seconds: number) => void;
}

/** What one run of the shell reads with: the call's wait and signal (none for a background write). */
interface Reads {
  readonly waitUntil: number;
  readonly signal?: AbortSignal;
  readonly log: Logger;
}

export function beforeClusterCreate(deps: BeforeClusterCreateDeps): Handler<BeforeClusterCreateRequest> {
  const { allocator, recorder } = deps;
  const tracker = new BindingTracker();

  /** The ingress allocation, best effort: it never waits. */
  function allocateIngress(facts: Facts, className: string): Promise<Allocation | Conflict | null> {
    if (!wantsIngress(facts.cluster)) return Promise.resolve(null);
    const claim = facts.ingressClaim ?? undefined;
    const read: SlotClaim | undefined = claim ? { claim } : facts.ingressNext;
    return unlessConflict(allocator.allocate(facts.cluster, className, INGRESS, read ? { read } : {}));
  }

  /** Reads what the decision asked for. */
  async function read(what: Need, facts: Facts, io: Reads): Promise<Facts> {
    const { cluster } = facts;
    // `decide` asks for reads only for a topology Cluster.
    const classRef = topologyClass(cluster) ?? { name: '', namespace: cluster.metadata.namespace };
    const { namespace } = cluster.metadata;
    const slots = () => controlPlaneSlots(cluster);
    const primary = (): Slot => slots()[0] ?? { role: 'control-plane' };
    switch (what) {
      case 'claim': {
        const { claim, attempt } = await allocator.claimOf(cluster, primary());
        return { ...facts, claim: claim ?? null, claimAttempt: attempt };
      }
      case 'clusterClass':
        return {
          ...facts,
          clusterClass: (await deps.getClusterClass(classRef.namespace, classRef.name)) ?? null,
        };
      case 'hostPool': {
        const host = cluster.spec?.controlPlaneEndpoint?.host ?? '';
        const { ranked } = await allocator.search(namespace, classRef.name, primary().role);
        const inside = ranked.find((candidate) => poolContains(candidate.pool, host));
        return { ...facts, hostPool: inside ? `${inside.kind.kind} ${inside.pool.metadata.name}` : null };
      }
      case 'missingFamily': {
        // A dual-stack pair needs a pool of each family before either family is claimed.
        const pair = slots();
        const searches = await Promise.all(
          pair.map((slot) => allocator.search(namespace, classRef.name, slot.role, slot.family)),
        );
        const i = searches.findIndex((search) => search.ranked.length === 0);
        const missing = pair[i];
        return {
          ...facts,
          missingFamily: missing
            ? `Cluster ${ref(cluster)} asks for a dual-stack pair (${pair.map((slot) => slot.family).join(', ')}) and no pool serves ` +
              `${missing.family ?? 'a family'}: nothing is claimed until both families have one. ` +
              allocator.noPoolMessage(
                searches[i]?.searched ?? '',
                classRef.name,
                missing.role,
                missing.family,
              )
            : null,
        };
      }
      case 'allocations': {
        const claim = facts.claim ?? undefined;
        const read: SlotClaim | undefined = claim
          ? { claim }
          : facts.claimAttempt === undefined
            ? undefined
            : { attempt: facts.claimAttempt };
        // The ingress claim is made beside the control-plane ones and never waited for; while the
        // control-plane VIP is pending, later calls leave it be (it is read again once that VIP is there).
        const [allocations, ingress] = await Promise.all([
          unlessConflict(
            Promise.all(
              slots().map((slot, i) =>
                allocator.allocate(cluster, classRef.name, slot, {
                  waitMs: Math.max(0, io.waitUntil - Date.now()),
                  ...(i === 0 && read ? { read } : {}),
                  ...(io.signal ? { signal: io.signal } : {}),
                }),
              ),
            ),
          ),
          claim ? undefined : allocateIngress(facts, classRef.name),
        ]);
        return { ...facts, allocations, ...(ingress !== undefined ? { ingress } : {}) };
      }
      case 'ingressClaim': {
        // A Cluster born with its endpoint has no ingress claim but one this hook makes, and no
        // answer here ends its ingress (decide claims on): the watch may say. For any other, "none"
        // would end it, so it is read live.
        const admitted = cluster.metadata.annotations?.[ANNOTATION_ADMITTED_CLAIM] !== undefined;
        const { claim, attempt } = await allocator.claimOf(cluster, INGRESS, { cached: admitted });
        const next = !claim && (attempt > 0 || allocator.adoptedAny(cluster, INGRESS));
        return { ...facts, ingressClaim: claim ?? null, ...(next ? { ingressNext: { attempt } } : {}) };
      }
      case 'ingress':
        return { ...facts, ingress: await allocateIngress(facts, classRef.name) };
    }
  }

  /** Decides, reading what each step asks for, then carries the outcome out. */
  async function run(start: Facts, io: Reads): Promise<HookResponse> {
    let facts = start;
    let step = decide(facts, deps);
    while ('need' in step) {
      facts = await read(step.need, facts, io);
      step = decide(facts, deps);
    }
    const { cluster } = facts;
    const uid = cluster.metadata.uid;
    if (step.publication) {
      // CAPI gave this call up: it may have called again, on another replica, with another answer.
      if (io.signal?.aborted) return { status: 'Success', retryAfterSeconds: RETRY.patched };
      try {
        await deps.patchCluster(cluster, clusterPatch(step.publication, facts.clusterClass ?? undefined));
      } catch (err) {
        if (!(err instanceof ClusterChangedError)) throw err;
        return refused(err, facts);
      }
    }
    if (step.written) {
      tracker.written(uid, step.response.message ?? '');
      const created = cluster.metadata.creationTimestamp;
      if (created) deps.observeTimeToVip?.((Date.now() - new Date(created).getTime()) / 1000);
    }
    if (step.noIngress) tracker.rememberNoIngress(uid);
    for (const [slot, result] of step.observed) deps.observe?.(slot, result);
    for (const note of step.events) await recorder.event(cluster, note.type, note.reason, note.message);
    if (step.track) {
      tracker.track(uid, step.response.message ?? '', () => completeWhenBound(facts, io.log), io.log);
    }
    return step.response;
  }

  /**
   * The write was refused: the Cluster is gone or re-created (nothing of this call is its), or it
   * carries another endpoint already (another replica, or a person, won it). Claims this call
   * allocated whose address the Cluster does not carry are given back, so no address is held for
   * nothing.
   */
  async function refused(err: ClusterChangedError, facts: Facts): Promise<HookResponse> {
    const { live } = err;
    if (err.why === 'endpoint' && live) {
      const allocated = [
        ...(facts.allocations && !isConflict(facts.allocations) ? facts.allocations : []),
        ...(facts.ingress && !isConflict(facts.ingress) ? [facts.ingress] : []),
      ].filter(
        (allocation): allocation is Allocated =>
          allocation.state === 'allocated' && !carries(live, allocation.address),
      );
      for (const allocation of allocated) await allocator.giveBack(allocation.claim);
      await recorder.event(
        live,
        'Warning',
        'VIPWriteRefused',
        err.message +
          (allocated.length
            ? `; gave back ${allocated.map((allocation) => `IPAddressClaim ${ref(allocation.claim)} (${allocation.address})`).join(', ')}`
            : ''),
      );
    }
    return retry(RETRY.patched, err.message);
  }

  /**
   * After a call answered "binding": keeps watching the claims (no request while waiting) and
   * writes the VIP the moment they bind, so CAPI's next call finds it on the Cluster instead of
   * starting the wait again. Until then, CAPI's calls for this Cluster are answered from memory.
   */
  async function completeWhenBound(call: Facts, log: Logger): Promise<boolean> {
    const { cluster } = call;
    const className = topologyClass(cluster)?.name ?? '';
    // The call's claims are waited on as they were; nothing is read again that could not have changed.
    const claims = call.allocations && !isConflict(call.allocations) ? call.allocations : [];
    const allocations = await Promise.all(
      controlPlaneSlots(cluster).map((slot, i) => {
        const earlier = claims[i];
        const claim = earlier && earlier.state !== 'no-pool' ? earlier.claim : undefined;
        return allocator.allocate(cluster, className, slot, {
          waitMs: COMPLETION_WAIT_MS,
          ...(claim ? { read: { claim } } : {}),
        });
      }),
    );
    const [first] = allocations;
    const allBound = allocations.every((allocation) => allocation.state === 'allocated');
    if (first?.state !== 'allocated' || !allBound) return false;
    // An ingress VIP the call found no pool for (or none wanted) is not looked for again; one still
    // binding is read again, so both VIPs are written in one patch.
    const { ingress } = call;
    await run(
      {
        cluster,
        now: Date.now(),
        queue: { waiting: 0 },
        noIngress: false,
        claim: first.claim,
        allocations,
        ...(noIngressVip(ingress) ? { ingress } : {}),
      },
      { waitUntil: 0, log },
    );
    return true;
  }

  async function handle({ cluster }: BeforeClusterCreateRequest, call: CallContext): Promise<HookResponse> {
    const uid = cluster.metadata.uid;
    return run(
      {
        cluster,
        now: Date.now(),
        memo: tracker.memo(uid),
        queue: tracker.queue(uid),
        noIngress: tracker.noIngress(uid),
      },
      {
        // The wait ends in time for our own writes before CAPI stops waiting: a loaded API server
        // must not push the answer past CAPI's timeout (it would skip the hook; see failurePolicy).
        waitUntil: Math.min(Date.now() + deps.allocationWaitMs, call.deadline - HOOK_MARGIN_MS),
        signal: call.signal,
        log: call.log,
      },
    );
  }

  return {
    hook: 'BeforeClusterCreate',
    suffix: HANDLER_SUFFIX.beforeClusterCreate,
    timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    // CAPI calls this hook for every topology Cluster, whatever its class: while every replica is
    // down, Ignore lets Clusters of other classes be created. Ours cannot slip through: our
    // GeneratePatches (Fail) refuses a Cluster without its VIP (see ../generate-patches.ts).
    failurePolicy: 'Ignore',
    parse: beforeClusterCreateRequest,
    handle,
    // Which Cluster version the manager sent (v1beta1 before CAPI 1.13): one key, for support.
    describe: ({ cluster }) => ({ ...clusterKeys(cluster), clusterVersion: cluster.apiVersion }),
  };
}
