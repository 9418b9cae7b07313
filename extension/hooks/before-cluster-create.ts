/**
 * BeforeClusterCreate: give the Cluster its control-plane VIP (or dual-stack pair), and its ingress
 * VIP where a pool serves one, before CAPI creates any topology object. The request carries a copy
 * of the Cluster, so addresses are written through the API and the hook asks to be called again;
 * it answers Success only once the Cluster it is shown already carries the VIP, so the rest of that
 * reconcile (patches, builtins) sees it. The ingress VIP never holds the control-plane VIP back.
 *
 * `decide` is the whole decision, pure: from what is known of the Cluster it either names the one
 * thing it needs read next or gives the outcome (answer, patch, Events, metrics, what to remember).
 * The handler is a loop that reads what is asked, so each path reads only what it needs, and then
 * carries the outcome out. The README's "Cases the hook handles" table is `decide`'s test table.
 */
import {
  ClaimConflictError,
  type Allocation,
  type Allocator,
  type SlotClaim,
} from '../../shared/allocator/allocator.js';
import type { Slot } from '../../shared/allocator/claims.js';
import { poolContains } from '../../shared/allocator/pools.js';
import { carries } from '../../shared/allocator/duplicates.js';
import { ClusterChangedError, type ClusterPatch } from '../../shared/allocator/store.js';
import { isPaused, ref, topologyClass } from '../../shared/cluster.js';
import type { Recorder } from '../../shared/events.js';
import type {
  BeforeClusterCreateRequest,
  Cluster,
  ClusterClass,
  IPAddressClaim,
} from '../../shared/kube/types.js';
import { clusterKeys, type Logger } from '../../shared/log.js';
import { HANDLER_SUFFIX, HOOK_MARGIN_MS, HOOK_TIMEOUT_SECONDS } from '../../shared/protocol.js';
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
import { BindingTracker, COMPLETION_WAIT_MS, type Queue } from '../binding-tracker.js';
import type { CallContext, Handler, HookResponse } from '../server.js';
import { beforeClusterCreateRequest } from '../validate.js';

const INGRESS: Slot = { role: 'ingress' };

/** Seconds CAPI waits before calling again. Small: since v1.12 CAPI caches the answer that long. */
export const RETRY = {
  patched: 1,
  binding: 1,
  duplicate: 1,
  releasing: 1,
  'pool-gone': 1,
  paused: 5,
  exhausted: 5,
  noPool: 10,
  quarantined: 10,
  'in-use': 1,
  'all-in-use': 10,
  'probe-filtered': 10,
} as const;

type Pending = Extract<Allocation, { state: 'pending' }>;
type Allocated = Extract<Allocation, { state: 'allocated' }>;

/** The Warning each waiting reason records (the others are a Normal `VIPPending`). */
const WARNING: Partial<Record<Pending['reason'], string>> = {
  exhausted: 'VIPPoolExhausted',
  duplicate: 'VIPDuplicateAddress',
  quarantined: 'VIPClaimQuarantined',
  'in-use': 'VIPAddressInUse',
  'all-in-use': 'VIPAddressInUse',
  'pool-gone': 'VIPPoolGone',
  'probe-filtered': 'VIPProbeFiltered',
};

/** How long after its creation a Cluster's topology waits for an ingress claim that is merely binding. */
export const INGRESS_BINDING_GRACE_MS = 10_000;

const MAX_MEMO_RETRY = 3;
const MAX_QUEUE_RETRY = 10;
const CLUSTERS_PER_SECOND = 25;

/**
 * CAPI's next call, for a Cluster answered from memory: every second while few wait, up to
 * MAX_MEMO_RETRY seconds while a burst waits on the IPAM provider. At 1 s CAPI reconciles 100
 * waiting Clusters 100 times a second, and the provider binding their claims competes with that
 * for the API server; the cost is up to that long between a VIP's write and CAPI acting on it
 * (CAPI keeps our answer that long, whatever changes on the Cluster). A Cluster whose claim waits
 * behind others is not called back before the provider, at its recent rate, reaches it (at most
 * MAX_QUEUE_RETRY seconds): each call is a reconcile of CAPI's that cannot find anything new.
 */
export function memoRetrySeconds({ waiting, ahead, bindsPerSecond }: Queue): number {
  const paced = Math.min(MAX_MEMO_RETRY, Math.max(RETRY.binding, Math.ceil(waiting / CLUSTERS_PER_SECOND)));
  if (ahead === undefined || !bindsPerSecond) return paced;
  return Math.min(MAX_QUEUE_RETRY, Math.max(paced, Math.ceil((ahead + 1) / bindsPerSecond)));
}

/** A claim of the Cluster's name that another Cluster owns: its message. */
export interface Conflict {
  readonly conflict: string;
}

/**
 * What is known when deciding. Memory and the clock are always there; every read is `undefined`
 * until the decision asks for it, then the value, or `null` for "read, there is none".
 */
export interface Facts {
  readonly cluster: Cluster;
  readonly now: number;
  /** What memory answers for this Cluster while nothing can have changed for it. */
  readonly memo?: string;
  /** Where the Cluster waits on the IPAM provider. */
  readonly queue: Queue;
  /** Memory: this Cluster carries its VIP and has no ingress claim that could still bind. */
  readonly noIngress: boolean;
  /** The claim of the first control-plane slot. */
  readonly claim?: IPAddressClaim | null;
  /** Which of that slot's names the read of `claim` ended at (the shell's: allocate starts there). */
  readonly claimAttempt?: number;
  /** The Cluster's ClusterClass. */
  readonly clusterClass?: ClusterClass | null;
  /** The matching pool a hand-set host lies in (`<kind> <name>`). */
  readonly hostPool?: string | null;
  /** Why a dual-stack pair cannot be claimed: a family without a pool. */
  readonly missingFamily?: string | null;
  /** One allocation per control-plane slot, or the conflict that stopped them. */
  readonly allocations?: readonly Allocation[] | Conflict;
  /** The ingress claim, for a Cluster that carries its VIP. */
  readonly ingressClaim?: IPAddressClaim | null;
  /**
   * With no ingress claim read: the slot's next name (its earlier claims found their addresses in
   * use), or a claim adopted from a reserve and found in use; either way the ingress VIP is claimed
   * again, not given up.
   */
  readonly ingressNext?: SlotClaim;
  /** The ingress allocation (`null`: the Cluster does not want one). */
  readonly ingress?: Allocation | Conflict | null;
}

export type Need =
  'claim' | 'clusterClass' | 'hostPool' | 'missingFamily' | 'allocations' | 'ingressClaim' | 'ingress';

export interface Note {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface Outcome {
  readonly response: HookResponse;
  /** Written to the Cluster before answering. */
  readonly publication?: Publication;
  /** Recorded on the Cluster, in order. */
  readonly events: readonly Note[];
  /** Allocation outcomes by slot (metrics). */
  readonly observed: readonly (readonly [Slot, string])[];
  /** The control-plane VIP is written now: remember the answer until CAPI's cache shows it. */
  readonly written?: boolean;
  /** Claims still binding: watch them past the call and write the VIP when they bind. */
  readonly track?: boolean;
  /** Remember that no ingress claim waits, so later calls read nothing. */
  readonly noIngress?: boolean;
}

export type Step = { readonly need: Need } | Outcome;

export interface Settings {
  /** `<handler>` prefix a ClusterClass's external patch uses for our GeneratePatches handler. */
  readonly generatePatchesHandler: string;
  readonly defaultPort: number;
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
const normal = (reason: string, message: string): Note => ({ type: 'Normal', reason, message });
const warning = (reason: string, message: string): Note => ({ type: 'Warning', reason, message });

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
export function controlPlaneSlots(cluster: Cluster): Slot[] {
  const role: Role = 'control-plane';
  const families = requestedFamilies(cluster);
  if (families.length === 0) return [{ role }];
  return families.map((family, i) => ({ role, family, ...(i > 0 ? { secondary: true } : {}) }));
}

const isConflict = (x: unknown): x is Conflict => typeof x === 'object' && x !== null && 'conflict' in x;
const outcomeOf = (a: Allocation): string => (a.state === 'pending' ? a.reason : a.state);
const ingressAddress = (a: Facts['ingress']): string | undefined =>
  a && !isConflict(a) && a.state === 'allocated' ? a.address : undefined;

/** Why the ingress VIP does not come with the control-plane VIP, said once, when that is written. */
function ingressNotes(a: Facts['ingress']): Note[] {
  if (!a || isConflict(a)) return [];
  if (a.state === 'allocated') {
    return [normal('IngressVIPAllocated', `Ingress VIP ${a.address} from IPAddressClaim ${ref(a.claim)}`)];
  }
  if (a.state === 'no-pool') return [normal('IngressVIPPoolNotFound', `No ingress VIP. ${a.message}`)];
  if (a.reason === 'exhausted') {
    return [
      warning(
        'IngressVIPPoolExhausted',
        `${a.message}; the Cluster is created without an ingress VIP for now`,
      ),
    ];
  }
  return [];
}

/** A path's answer; `decide` adds what every path shares (observations, an ingress conflict). */
type Answer = Omit<Outcome, 'events' | 'observed'> & { readonly events?: readonly Note[] };
type Route = { readonly need: Need } | Answer;
const need = (what: Need): Route => ({ need: what });

/** The outcome for these facts, or the read it needs first. */
export function decide(f: Facts, s: Settings): Step {
  const step = route(f, s);
  if ('need' in step) return step;
  // Whatever path was taken, every allocation read is counted, and an ingress conflict said first.
  const observed: (readonly [Slot, string])[] = [];
  if (f.allocations) {
    const slots = controlPlaneSlots(f.cluster);
    if (isConflict(f.allocations)) observed.push([slots[0] ?? { role: 'control-plane' }, 'conflict']);
    else f.allocations.forEach((a, i) => slots[i] && observed.push([slots[i], outcomeOf(a)]));
  }
  if (f.ingress && !isConflict(f.ingress)) observed.push([INGRESS, outcomeOf(f.ingress)]);
  const conflict = isConflict(f.ingress) ? [warning('VIPClaimConflict', f.ingress.conflict)] : [];
  return { ...step, events: [...conflict, ...(step.events ?? [])], observed };
}

function route(f: Facts, s: Settings): Route {
  const { cluster } = f;
  if (!topologyClass(cluster) || cluster.metadata.annotations?.[ANNOTATION_ENABLED] === 'false') {
    return { response: success() };
  }
  // clusterctl move pauses Clusters: nothing is claimed or written for one until it is unpaused.
  if (isPaused(cluster)) {
    return {
      response: retry(
        RETRY.paused,
        `Cluster ${ref(cluster)} is paused: nothing is claimed until it is unpaused`,
      ),
    };
  }
  const host = cluster.spec?.controlPlaneEndpoint?.host || undefined;
  if (host && host === cluster.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP]) return ingressAfter(f);
  if (f.memo) return { response: retry(memoRetrySeconds(f.queue), f.memo) };

  let slots: Slot[];
  try {
    slots = controlPlaneSlots(cluster);
  } catch (err) {
    if (!(err instanceof BadRequestError)) throw err;
    return {
      response: { status: 'Failure', message: err.message },
      events: [warning('VIPInvalidRequest', err.message)],
    };
  }
  if (f.claim === undefined) return need('claim');
  if (host && !f.claim) return handSet(f, s, host);
  if (slots.length > 1 && !f.claim) {
    if (f.missingFamily === undefined) return need('missingFamily');
    if (f.missingFamily) return blocked(f, s, f.missingFamily);
  }
  if (f.allocations === undefined) return need('allocations');
  if (isConflict(f.allocations)) {
    return {
      response: { status: 'Failure', message: f.allocations.conflict },
      events: [warning('VIPClaimConflict', f.allocations.conflict)],
    };
  }
  const waiting = f.allocations.find((a): a is Exclude<Allocation, Allocated> => a.state !== 'allocated');
  if (!waiting) return publish(f, s, f.allocations as Allocated[]);
  switch (waiting.state) {
    case 'no-pool':
      return blocked(f, s, waiting.message);
    case 'pending': {
      const reason = WARNING[waiting.reason];
      return {
        response: retry(RETRY[waiting.reason], waiting.message),
        events: [reason ? warning(reason, waiting.message) : normal('VIPPending', waiting.message)],
        ...(waiting.reason === 'binding' ? { track: true } : {}),
      };
    }
  }
}

/** Whether the class lists our GeneratePatches (`undefined`: not read yet). Without it the Cluster is not ours. */
const listsOurPatch = (f: Facts, s: Settings): boolean | undefined =>
  f.clusterClass === undefined
    ? undefined
    : (f.clusterClass?.spec?.patches ?? []).some((p) =>
        p.external?.generatePatchesExtension?.startsWith(`${s.generatePatchesHandler}.`),
      );

/** No pool (for the Cluster, or for a family of its pair): blocked if the class lists our patch. */
function blocked(f: Facts, s: Settings, message: string): Route {
  const ours = listsOurPatch(f, s);
  if (ours === undefined) return need('clusterClass');
  if (!ours) return { response: success() };
  return { response: retry(RETRY.noPool, message), events: [warning('VIPPoolNotFound', message)] };
}

const portOf = (cluster: Cluster, s: Settings): number =>
  cluster.spec?.controlPlaneEndpoint?.port || s.defaultPort;

/**
 * The user chose the endpoint: theirs to keep, but said when it sits inside a pool we hand out. A
 * class that uses our patch gets it published like a VIP of ours, so the InfrastructureCluster
 * and the announcer are born with it, and GeneratePatches knows it is this Cluster's.
 */
function handSet(f: Facts, s: Settings, host: string): Route {
  if (f.hostPool === undefined) return need('hostPool');
  const notes = f.hostPool
    ? [
        warning(
          'ManualVIPInPool',
          `spec.controlPlaneEndpoint.host ${host} was set by hand and lies inside ${f.hostPool}, which may hand the same address to another Cluster`,
        ),
      ]
    : [];
  const ours = listsOurPatch(f, s);
  if (ours === undefined) return need('clusterClass');
  if (!ours) return { response: success(), events: notes };
  if (f.ingress === undefined) return need('ingress');
  const port = portOf(f.cluster, s);
  return {
    response: retry(
      RETRY.patched,
      `Hand-set endpoint ${host}:${port} published for the class's patches; waiting for CAPI to read it back`,
    ),
    publication: { endpoint: { host, port }, ingress: ingressAddress(f.ingress) },
    events: [...notes, ...ingressNotes(f.ingress)],
  };
}

/** Every control-plane claim is bound: the VIPs (and the ingress VIP, if any) are written in one patch. */
function publish(f: Facts, s: Settings, [first, second]: readonly Allocated[]): Route {
  if (!first) throw new Error(`Cluster ${ref(f.cluster)}: no control-plane allocation`);
  // An adopted claim's ingress was not read beside it: read now, never waited for.
  if (f.ingress === undefined) return need('ingress');
  if (f.clusterClass === undefined) return need('clusterClass');
  const port = portOf(f.cluster, s);
  return {
    response: retry(
      RETRY.patched,
      `Control-plane VIP ${first.address} written to the Cluster; waiting for CAPI to read it back`,
    ),
    publication: {
      endpoint: {
        host: first.address,
        port,
        prefix: first.prefix,
        secondary: second?.address,
        secondaryPrefix: second?.prefix,
      },
      ingress: ingressAddress(f.ingress),
    },
    events: [
      normal(
        'VIPAllocated',
        `Control-plane VIP ${first.address}:${port} from IPAddressClaim ${ref(first.claim)}` +
          (second ? `, and ${second.address} from IPAddressClaim ${ref(second.claim)}` : ''),
      ),
      ...ingressNotes(f.ingress),
    ],
    written: true,
    noIngress: noIngressVip(f.ingress),
  };
}

/** No ingress VIP will come of this allocation: none wanted, or no pool for it. */
const noIngressVip = (a: Facts['ingress']): boolean =>
  a === null || (a !== undefined && !isConflict(a) && a.state === 'no-pool');

/** The Cluster carries its VIP: the ingress VIP once its claim binds; waits only briefly, and only while binding. */
function ingressAfter(f: Facts): Route {
  const { cluster } = f;
  if (!wantsIngress(cluster) || cluster.metadata.annotations?.[ANNOTATION_INGRESS_VIP] || f.noIngress) {
    return { response: success() };
  }
  if (f.ingressClaim === undefined) return need('ingressClaim');
  // No claim: no ingress pool served the class when the VIP was claimed.
  if (!f.ingressClaim && !f.ingressNext) return { response: success(), noIngress: true };
  if (f.ingress === undefined) return need('ingress');
  const address = ingressAddress(f.ingress);
  if (address) {
    if (f.clusterClass === undefined) return need('clusterClass');
    return {
      response: retry(
        RETRY.patched,
        `Ingress VIP ${address} written to the Cluster; waiting for CAPI to read it back`,
      ),
      publication: { ingress: address },
      events: ingressNotes(f.ingress),
    };
  }
  const age = f.now - new Date(cluster.metadata.creationTimestamp ?? 0).getTime();
  if (
    f.ingress &&
    !isConflict(f.ingress) &&
    f.ingress.state === 'pending' &&
    f.ingress.reason === 'binding' &&
    age < INGRESS_BINDING_GRACE_MS
  ) {
    return { response: retry(RETRY.binding, f.ingress.message) };
  }
  // Later binds are written by --enable-reconciler.
  return { response: success() };
}

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
  function ingress(f: Facts, className: string): Promise<Allocation | Conflict | null> {
    if (!wantsIngress(f.cluster)) return Promise.resolve(null);
    const claim = f.ingressClaim ?? undefined;
    const read: SlotClaim | undefined = claim ? { claim } : f.ingressNext;
    return unlessConflict(allocator.allocate(f.cluster, className, INGRESS, read ? { read } : {}));
  }

  /** Reads what the decision asked for. */
  async function read(what: Need, f: Facts, io: Reads): Promise<Facts> {
    const { cluster } = f;
    // `decide` asks for reads only for a topology Cluster.
    const cls = topologyClass(cluster) ?? { name: '', namespace: cluster.metadata.namespace };
    const { namespace } = cluster.metadata;
    const slots = () => controlPlaneSlots(cluster);
    const primary = (): Slot => slots()[0] ?? { role: 'control-plane' };
    switch (what) {
      case 'claim': {
        const { claim, attempt } = await allocator.claimOf(cluster, primary());
        return { ...f, claim: claim ?? null, claimAttempt: attempt };
      }
      case 'clusterClass':
        return { ...f, clusterClass: (await deps.getClusterClass(cls.namespace, cls.name)) ?? null };
      case 'hostPool': {
        const host = cluster.spec?.controlPlaneEndpoint?.host ?? '';
        const { ranked } = await allocator.search(namespace, cls.name, primary().role);
        const inside = ranked.find((c) => poolContains(c.pool, host));
        return { ...f, hostPool: inside ? `${inside.kind.kind} ${inside.pool.metadata.name}` : null };
      }
      case 'missingFamily': {
        // A dual-stack pair needs a pool of each family before either family is claimed.
        const pair = slots();
        const searches = await Promise.all(
          pair.map((s) => allocator.search(namespace, cls.name, s.role, s.family)),
        );
        const i = searches.findIndex((s) => s.ranked.length === 0);
        const missing = pair[i];
        return {
          ...f,
          missingFamily: missing
            ? `Cluster ${ref(cluster)} asks for a dual-stack pair (${pair.map((s) => s.family).join(', ')}) and no pool serves ` +
              `${missing.family ?? 'a family'}: nothing is claimed until both families have one. ` +
              allocator.noPoolMessage(searches[i]?.searched ?? '', cls.name, missing.role, missing.family)
            : null,
        };
      }
      case 'allocations': {
        const claim = f.claim ?? undefined;
        const read: SlotClaim | undefined = claim
          ? { claim }
          : f.claimAttempt === undefined
            ? undefined
            : { attempt: f.claimAttempt };
        // The ingress claim is made beside the control-plane ones and never waited for; while the
        // control-plane VIP is pending, later calls leave it be (it is read again once that VIP is there).
        const [allocations, ing] = await Promise.all([
          unlessConflict(
            Promise.all(
              slots().map((slot, i) =>
                allocator.allocate(cluster, cls.name, slot, {
                  waitMs: Math.max(0, io.waitUntil - Date.now()),
                  ...(i === 0 && read ? { read } : {}),
                  ...(io.signal ? { signal: io.signal } : {}),
                }),
              ),
            ),
          ),
          claim ? undefined : ingress(f, cls.name),
        ]);
        return { ...f, allocations, ...(ing !== undefined ? { ingress: ing } : {}) };
      }
      case 'ingressClaim': {
        const { claim, attempt } = await allocator.claimOf(cluster, INGRESS);
        const next = !claim && (attempt > 0 || allocator.adoptedAny(cluster, INGRESS));
        return { ...f, ingressClaim: claim ?? null, ...(next ? { ingressNext: { attempt } } : {}) };
      }
      case 'ingress':
        return { ...f, ingress: await ingress(f, cls.name) };
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
    for (const e of step.events) await recorder.event(cluster, e.type, e.reason, e.message);
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
      ].filter((a): a is Allocated => a.state === 'allocated' && !carries(live, a.address));
      for (const a of allocated) await allocator.giveBack(a.claim);
      await recorder.event(
        live,
        'Warning',
        'VIPWriteRefused',
        err.message +
          (allocated.length
            ? `; gave back ${allocated.map((a) => `IPAddressClaim ${ref(a.claim)} (${a.address})`).join(', ')}`
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
    const cls = topologyClass(cluster)?.name ?? '';
    // The call's claims are waited on as they were; nothing is read again that could not have changed.
    const claims = call.allocations && !isConflict(call.allocations) ? call.allocations : [];
    const allocations = await Promise.all(
      controlPlaneSlots(cluster).map((slot, i) => {
        const a = claims[i];
        const claim = a && a.state !== 'no-pool' ? a.claim : undefined;
        return allocator.allocate(cluster, cls, slot, {
          waitMs: COMPLETION_WAIT_MS,
          ...(claim ? { read: { claim } } : {}),
        });
      }),
    );
    const [first] = allocations;
    if (first?.state !== 'allocated' || !allocations.every((a) => a.state === 'allocated')) return false;
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
    // GeneratePatches (Fail) refuses a Cluster without its VIP (see generate-patches.ts).
    failurePolicy: 'Ignore',
    parse: beforeClusterCreateRequest,
    handle,
    // Which Cluster version the manager sent (v1beta1 before CAPI 1.13): one key, for support.
    describe: ({ cluster }) => ({ ...clusterKeys(cluster), clusterVersion: cluster.apiVersion }),
  };
}
