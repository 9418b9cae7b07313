/**
 * BeforeClusterCreate: give the Cluster its control-plane VIP (or dual-stack pair), and its ingress
 * VIP where a pool serves one, before CAPI creates any topology object. The request carries a copy
 * of the Cluster, so addresses are written through the API and the hook asks to be called again;
 * it answers Success only once the Cluster it is shown already carries the VIP, so the rest of that
 * reconcile (patches, builtins) sees it. The ingress VIP never holds the control-plane VIP back.
 */
import { ClaimConflictError, type Allocation, type Allocator } from '../../shared/allocator/allocator.js';
import { isPaused, ref, topologyClass } from '../../shared/cluster.js';
import type { Slot } from '../../shared/allocator/claims.js';
import { poolContains } from '../../shared/allocator/pools.js';
import type { ClusterPatch } from '../../shared/allocator/store.js';
import { HANDLER_SUFFIX, HOOK_MARGIN_MS, HOOK_TIMEOUT_SECONDS } from '../../shared/protocol.js';
import { reason } from '../../shared/kube/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Recorder } from '../../shared/events.js';
import type {
  BeforeClusterCreateRequest,
  Cluster,
  ClusterClass,
  IPAddressClaim,
} from '../../shared/kube/types.js';
import { clusterKeys } from '../../shared/log.js';
import { TtlMap } from '../../shared/ttl-map.js';
import { clusterPatch, wantsIngress, type Publication } from '../../shared/publish.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_ENABLED,
  ANNOTATION_INGRESS_VIP,
  ANNOTATION_IP_FAMILIES,
  FAMILIES,
  SETTINGS_VARIABLE,
  type Family,
  type Role,
} from '../../shared/vip.js';
import type { CallContext, Handler, HookResponse } from '../server.js';
import { beforeClusterCreateRequest } from '../validate.js';

const INGRESS: Slot = { role: 'ingress' };

/** Seconds CAPI waits before calling again. Small: since v1.12 CAPI caches the answer that long. */
export const RETRY = {
  patched: 1,
  binding: 1,
  duplicate: 1,
  releasing: 1,
  paused: 5,
  exhausted: 5,
  noPool: 10,
  quarantined: 10,
  'in-use': 1,
  'all-in-use': 10,
} as const;

type PendingReason = Extract<Allocation, { state: 'pending' }>['reason'];

/** The Warning each waiting reason records (the others are a Normal `VIPPending`). */
const WARNING: Partial<Record<PendingReason, string>> = {
  exhausted: 'VIPPoolExhausted',
  duplicate: 'VIPDuplicateAddress',
  quarantined: 'VIPClaimQuarantined',
  'in-use': 'VIPAddressInUse',
  'all-in-use': 'VIPAddressInUse',
};

/** How long after its creation a Cluster's topology waits for an ingress claim that is merely binding. */
export const INGRESS_BINDING_GRACE_MS = 10_000;

/**
 * How long a claim that is still binding is watched after the call returns: its VIP is written the
 * moment it binds, and CAPI's next call finds it on the Cluster.
 */
export const COMPLETION_WAIT_MS = 120_000;
/** How long a written VIP answers CAPI's calls from memory while CAPI's cache catches up. */
export const WRITTEN_MEMO_MS = 30_000;

const MAX_MEMO_RETRY = 3;
const CLUSTERS_PER_SECOND = 25;

/**
 * CAPI's next call, for a Cluster answered from memory: every second while few wait, up to
 * MAX_MEMO_RETRY seconds while a burst waits on the IPAM provider. At 1 s CAPI reconciles 100
 * waiting Clusters 100 times a second, and the provider binding their claims competes with that
 * for the API server; the cost is up to that long between a VIP's write and CAPI acting on it
 * (CAPI keeps our answer that long, whatever changes on the Cluster).
 */
const memoRetrySeconds = (waiting: number): number =>
  Math.min(MAX_MEMO_RETRY, Math.max(RETRY.binding, Math.ceil(waiting / CLUSTERS_PER_SECOND)));

export interface BeforeClusterCreateDeps {
  readonly allocator: Allocator;
  readonly recorder: Recorder;
  readonly patchCluster: (cluster: Cluster, patch: ClusterPatch) => Promise<void>;
  readonly getClusterClass: (namespace: string, name: string) => Promise<ClusterClass | undefined>;
  /** `<handler>.` prefix a ClusterClass's external patch uses for our GeneratePatches handler. */
  readonly generatePatchesHandler: string;
  readonly defaultPort: number;
  readonly allocationWaitMs: number;
  /** Counts each allocation outcome by role and family (metrics). */
  readonly observe?: (slot: Slot, result: string) => void;
  /** Seconds from the Cluster's creation to its VIP being written (metrics). */
  readonly observeTimeToVip?: (seconds: number) => void;
}

const success = (message?: string): HookResponse => ({
  status: 'Success',
  retryAfterSeconds: 0,
  ...(message ? { message } : {}),
});
const retry = (seconds: number, message: string): HookResponse => ({
  status: 'Success',
  retryAfterSeconds: seconds,
  message,
});

function referencesHandler(cc: ClusterClass | undefined, handler: string): boolean {
  return (cc?.spec?.patches ?? []).some((p) =>
    p.external?.generatePatchesExtension?.startsWith(`${handler}.`),
  );
}

/** A Cluster asking for something the hook cannot give: a Failure naming the field. */
class BadRequestError extends Error {}

/**
 * The families a Cluster asks for: `vipAllocator.ipFamilies`, else the annotation; empty means
 * one address of whatever family the class's pool holds.
 */
export function requestedFamilies(cluster: Cluster): Family[] {
  const variable = cluster.spec?.topology?.variables?.find((v) => v.name === SETTINGS_VARIABLE)?.value as
    { ipFamilies?: unknown } | undefined;
  const fromVariable = variable?.ipFamilies;
  const annotation = cluster.metadata.annotations?.[ANNOTATION_IP_FAMILIES];
  const [raw, field] =
    fromVariable !== undefined
      ? [fromVariable, `variable ${SETTINGS_VARIABLE}.ipFamilies`]
      : [annotation?.split(',').map((f) => f.trim()), `annotation ${ANNOTATION_IP_FAMILIES}`];
  if (raw === undefined) return [];
  const list = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  const bad = list.find((f) => !FAMILIES.includes(f as Family));
  if (bad !== undefined || list.length > 2 || new Set(list).size !== list.length) {
    throw new BadRequestError(
      `Cluster ${ref(cluster)}: ${field} ${JSON.stringify(raw)} is not one or two distinct families of ${FAMILIES.join(', ')}`,
    );
  }
  return list as Family[];
}

/** The control-plane claims: one, or one per family of a dual-stack pair (the first keeps the original name). */
function controlPlaneSlots(families: readonly Family[]): Slot[] {
  const role: Role = 'control-plane';
  if (families.length === 0) return [{ role }];
  return families.map((family, i) => ({ role, family, ...(i > 0 ? { secondary: true } : {}) }));
}

export function beforeClusterCreate(deps: BeforeClusterCreateDeps): Handler<BeforeClusterCreateRequest> {
  const { allocator, recorder } = deps;
  // What a Cluster (by uid) was last answered while nothing can have changed for it: its claim is
  // binding and watched, or its VIP was just written. CAPI calls again every second or so
  // meanwhile (and with a stale Cluster for a while after a write); those calls are answered from
  // here without a request.
  const answered = new TtlMap<string, string>();
  // The Clusters whose claims are still binding, watched past their call: how many wait on the
  // IPAM provider now (just-written VIPs and expired memos are not waiting).
  const binding = new Set<string>();
  const warn = (cluster: Cluster, reason: string, note: string): Promise<void> =>
    recorder.event(cluster, 'Warning', reason, note);
  const outcome = (a: Allocation): string => (a.state === 'pending' ? a.reason : a.state);
  const portOf = (cluster: Cluster): number => cluster.spec?.controlPlaneEndpoint?.port || deps.defaultPort;

  /** The ingress VIP, best effort: it never waits, and a claim of another Cluster is only a Warning. */
  async function ingress(
    cluster: Cluster,
    className: string,
    existing?: IPAddressClaim,
  ): Promise<Allocation | undefined> {
    if (!wantsIngress(cluster)) return undefined;
    try {
      const allocation = await allocator.allocate(cluster, className, INGRESS, existing ? { existing } : {});
      deps.observe?.(INGRESS, outcome(allocation));
      return allocation;
    } catch (err) {
      if (!(err instanceof ClaimConflictError)) throw err;
      await warn(cluster, 'VIPClaimConflict', err.message);
      return undefined;
    }
  }

  /** Says, once (when the control-plane VIP is written), why the ingress VIP does not come with it. */
  async function reportIngress(cluster: Cluster, allocation: Allocation | undefined): Promise<void> {
    if (allocation?.state === 'allocated') {
      await recorder.event(
        cluster,
        'Normal',
        'IngressVIPAllocated',
        `Ingress VIP ${allocation.address} from IPAddressClaim ${ref(allocation.claim)}`,
      );
    } else if (allocation?.state === 'no-pool') {
      await recorder.event(
        cluster,
        'Normal',
        'IngressVIPPoolNotFound',
        `No ingress VIP. ${allocation.message}`,
      );
    } else if (allocation?.state === 'pending' && allocation.reason === 'exhausted') {
      await warn(
        cluster,
        'IngressVIPPoolExhausted',
        `${allocation.message}; the Cluster is created without an ingress VIP for now`,
      );
    }
  }

  const ingressAddress = (a: Allocation | undefined): string | undefined =>
    a?.state === 'allocated' ? a.address : undefined;

  /** A dual-stack pair needs a pool of each family before either family is claimed. */
  async function missingFamily(
    cluster: Cluster,
    className: string,
    slots: readonly Slot[],
  ): Promise<string | undefined> {
    const searches = await Promise.all(
      slots.map((s) => allocator.search(cluster.metadata.namespace, className, s.role, s.family)),
    );
    const i = searches.findIndex((s) => s.ranked.length === 0);
    const missing = slots[i];
    if (!missing) return undefined;
    return (
      `Cluster ${ref(cluster)} asks for a dual-stack pair (${slots.map((s) => s.family).join(', ')}) and no pool serves ` +
      `${missing.family}: nothing is claimed until both families have one. ` +
      allocator.noPoolMessage(searches[i]?.searched ?? '', className, missing.role, missing.family)
    );
  }

  /** After the control-plane VIP: the ingress VIP once its claim binds; waits only briefly, and only while binding. */
  async function ingressAfter(
    cluster: Cluster,
    cls: { name: string; namespace: string },
  ): Promise<HookResponse> {
    if (!wantsIngress(cluster) || cluster.metadata.annotations?.[ANNOTATION_INGRESS_VIP]) return success();
    const claim = await allocator.existingClaim(cluster, INGRESS);
    // No claim: no ingress pool served the class when the VIP was claimed.
    if (!claim) return success();
    const allocation = await ingress(cluster, cls.name, claim);
    const address = ingressAddress(allocation);
    if (address) {
      const cc = await deps.getClusterClass(cls.namespace, cls.name);
      await deps.patchCluster(cluster, clusterPatch({ ingress: address }, cc));
      await reportIngress(cluster, allocation);
      return retry(
        RETRY.patched,
        `Ingress VIP ${address} written to the Cluster; waiting for CAPI to read it back`,
      );
    }
    const age = Date.now() - new Date(cluster.metadata.creationTimestamp ?? 0).getTime();
    if (
      allocation?.state === 'pending' &&
      allocation.reason === 'binding' &&
      age < INGRESS_BINDING_GRACE_MS
    ) {
      return retry(RETRY.binding, allocation.message);
    }
    // Later binds are written by --enable-reconciler.
    return success();
  }

  /** Writes the allocated VIPs (and the ingress VIP, if any) to the Cluster in one patch, and says so. */
  async function publish(
    cluster: Cluster,
    cls: { name: string; namespace: string },
    results: Allocation[],
    ing: Allocation | undefined,
  ): Promise<HookResponse> {
    const [first, second] = results as Extract<Allocation, { state: 'allocated' }>[];
    if (!first) throw new Error(`Cluster ${ref(cluster)}: no control-plane allocation`);
    const port = portOf(cluster);
    const cc = await deps.getClusterClass(cls.namespace, cls.name);
    const endpoint = {
      host: first.address,
      port,
      prefix: first.prefix,
      secondary: second?.address,
      secondaryPrefix: second?.prefix,
    };
    const publication: Publication = { endpoint, ingress: ingressAddress(ing) };
    await deps.patchCluster(cluster, clusterPatch(publication, cc));
    const message = `Control-plane VIP ${first.address} written to the Cluster; waiting for CAPI to read it back`;
    if (cluster.metadata.uid) answered.set(cluster.metadata.uid, message, WRITTEN_MEMO_MS);
    const created = cluster.metadata.creationTimestamp;
    if (created) deps.observeTimeToVip?.((Date.now() - new Date(created).getTime()) / 1000);
    await recorder.event(
      cluster,
      'Normal',
      'VIPAllocated',
      `Control-plane VIP ${first.address}:${port} from IPAddressClaim ${ref(first.claim)}` +
        (second ? `, and ${second.address} from IPAddressClaim ${ref(second.claim)}` : ''),
    );
    await reportIngress(cluster, ing);
    return retry(RETRY.patched, message);
  }

  /**
   * After a call answered "binding": keeps watching the claims (no request while waiting) and
   * writes the VIP the moment they bind, so CAPI's next call finds it on the Cluster instead of
   * starting the wait again. Until then, CAPI's calls for this Cluster are answered from memory.
   */
  function completeWhenBound(
    cluster: Cluster,
    cls: { name: string; namespace: string },
    slots: readonly Slot[],
    message: string,
    log: Logger,
  ): void {
    const uid = cluster.metadata.uid;
    if (!uid || answered.get(uid)) return;
    answered.set(uid, message, COMPLETION_WAIT_MS);
    binding.add(uid);
    void (async () => {
      try {
        const results = await Promise.all(
          slots.map((slot) => allocator.allocate(cluster, cls.name, slot, { waitMs: COMPLETION_WAIT_MS })),
        );
        if (results.every((a) => a.state === 'allocated')) {
          binding.delete(uid);
          await publish(cluster, cls, results, await ingress(cluster, cls.name));
          return;
        }
      } catch (err) {
        log.warn('Could not write a VIP that bound after its call; the next call tries again', {
          error: reason(err),
        });
      }
      // Not bound in time, or failed: the next call takes the full path again.
      binding.delete(uid);
      answered.delete(uid);
    })();
  }

  async function handle({ cluster }: BeforeClusterCreateRequest, call: CallContext): Promise<HookResponse> {
    // The wait ends in time for our own writes before CAPI stops waiting: a loaded API server must
    // not push the answer past CAPI's timeout (it would skip the hook; see failurePolicy below).
    const waitUntil = Math.min(Date.now() + deps.allocationWaitMs, call.deadline - HOOK_MARGIN_MS);
    const cls = topologyClass(cluster);
    if (!cls || cluster.metadata.annotations?.[ANNOTATION_ENABLED] === 'false') return success();
    // clusterctl move pauses Clusters: nothing is claimed or written for one until it is unpaused.
    if (isPaused(cluster)) {
      return retry(
        RETRY.paused,
        `Cluster ${ref(cluster)} is paused: nothing is claimed until it is unpaused`,
      );
    }

    const host = cluster.spec?.controlPlaneEndpoint?.host || undefined;
    const vip = cluster.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP];
    if (host && host === vip) return ingressAfter(cluster, cls);
    const memo = cluster.metadata.uid ? answered.get(cluster.metadata.uid) : undefined;
    if (memo) return retry(memoRetrySeconds(binding.size), memo);

    let slots: Slot[];
    try {
      slots = controlPlaneSlots(requestedFamilies(cluster));
    } catch (err) {
      if (!(err instanceof BadRequestError)) throw err;
      await warn(cluster, 'VIPInvalidRequest', err.message);
      return { status: 'Failure', message: err.message };
    }
    const primary = slots[0] ?? { role: 'control-plane' };
    const claim = await allocator.existingClaim(cluster, primary);
    if (host && !claim) {
      // The user chose the endpoint: theirs to keep, but say so when it sits inside a pool we hand out.
      const { ranked } = await allocator.search(cluster.metadata.namespace, cls.name, primary.role);
      const inside = ranked.find((c) => poolContains(c.pool, host));
      if (inside) {
        await warn(
          cluster,
          'ManualVIPInPool',
          `spec.controlPlaneEndpoint.host ${host} was set by hand and lies inside ${inside.kind.kind} ` +
            `${inside.pool.metadata.name}, which may hand the same address to another Cluster`,
        );
      }
      // A class that uses our patch gets a hand-set endpoint published like a VIP of ours, so the
      // InfrastructureCluster and the announcer are born with it, and GeneratePatches knows it is
      // this Cluster's; nothing is claimed.
      const cc = await deps.getClusterClass(cls.namespace, cls.name);
      if (!referencesHandler(cc, deps.generatePatchesHandler)) return success();
      const port = portOf(cluster);
      const ing = await ingress(cluster, cls.name);
      await deps.patchCluster(
        cluster,
        clusterPatch({ endpoint: { host, port }, ingress: ingressAddress(ing) }, cc),
      );
      await reportIngress(cluster, ing);
      return retry(
        RETRY.patched,
        `Hand-set endpoint ${host}:${port} published for the class's patches; waiting for CAPI to read it back`,
      );
    }

    if (slots.length > 1 && !claim) {
      const missing = await missingFamily(cluster, cls.name, slots);
      if (missing) {
        if (
          !referencesHandler(await deps.getClusterClass(cls.namespace, cls.name), deps.generatePatchesHandler)
        ) {
          return success();
        }
        await warn(cluster, 'VIPPoolNotFound', missing);
        return retry(RETRY.noPool, missing);
      }
    }

    let results: Allocation[];
    let ing: Allocation | undefined;
    try {
      // The ingress claim is made beside the control-plane ones and never waited for; while the
      // control-plane VIP is pending, later calls leave it be (it is looked at again once that VIP is there).
      [results, ing] = await Promise.all([
        Promise.all(
          slots.map((slot, i) =>
            allocator.allocate(cluster, cls.name, slot, {
              waitMs: Math.max(0, waitUntil - Date.now()),
              ...(i === 0 && claim ? { existing: claim } : {}),
              signal: call.signal,
            }),
          ),
        ),
        claim ? undefined : ingress(cluster, cls.name),
      ]);
    } catch (err) {
      if (!(err instanceof ClaimConflictError)) throw err;
      deps.observe?.(primary, 'conflict');
      await warn(cluster, 'VIPClaimConflict', err.message);
      return { status: 'Failure', message: err.message };
    }
    slots.forEach((slot, i) => {
      const result = results[i];
      if (result) deps.observe?.(slot, outcome(result));
    });

    const waiting = results.find(
      (a): a is Exclude<Allocation, { state: 'allocated' }> => a.state !== 'allocated',
    );
    if (!waiting) return publish(cluster, cls, results, claim ? await ingress(cluster, cls.name) : ing);
    if (waiting.state === 'pending' && waiting.reason === 'binding') {
      completeWhenBound(cluster, cls, slots, waiting.message, call.log);
    }
    switch (waiting.state) {
      case 'no-pool': {
        // Without a matching pool and without our patch in its class, this Cluster is simply not ours.
        if (
          !referencesHandler(await deps.getClusterClass(cls.namespace, cls.name), deps.generatePatchesHandler)
        ) {
          return success();
        }
        await warn(cluster, 'VIPPoolNotFound', waiting.message);
        return retry(RETRY.noPool, waiting.message);
      }
      case 'pending': {
        const warning = WARNING[waiting.reason];
        if (warning) await warn(cluster, warning, waiting.message);
        else await recorder.event(cluster, 'Normal', 'VIPPending', waiting.message);
        return retry(RETRY[waiting.reason], waiting.message);
      }
    }
  }

  return {
    hook: 'BeforeClusterCreate',
    suffix: HANDLER_SUFFIX.beforeClusterCreate,
    timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    // CAPI calls this hook for every topology Cluster, whatever its class: while every replica is
    // down, Ignore lets Clusters of other classes be created. Ours cannot slip through: our
    // GeneratePatches (Fail) refuses a Cluster without its VIP (see generate-patches.ts).
    failurePolicy: 'Ignore',
    parse: beforeClusterCreateRequest,
    handle,
    // Which Cluster version the manager sent (v1beta1 before CAPI 1.13): one key, for support.
    describe: ({ cluster }) => ({ ...clusterKeys(cluster), clusterVersion: cluster.apiVersion }),
  };
}
