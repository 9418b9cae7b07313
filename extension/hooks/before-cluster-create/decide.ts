/**
 * BeforeClusterCreate's whole decision, pure: from what is known of the Cluster, `decide` either
 * names the one thing it needs read next or gives the outcome (answer, patch, Events, metrics, what
 * to remember). It reads and writes nothing; the shell (shell.ts) reads what it asks for and
 * carries the outcome out. docs/reference/hook-cases.md is its test table (decide.test.ts).
 */
import type { Allocation, SlotClaim } from '../../../shared/allocator/allocator.js';
import type { Slot } from '../../../shared/allocator/claims.js';
import { isPaused, ref, topologyClass } from '../../../shared/cluster.js';
import type { Cluster, ClusterClass, IPAddressClaim } from '../../../shared/kube/types.js';
import { wantsIngress, type Publication } from '../../../shared/publish.js';
import {
  ANNOTATION_ADMITTED_CLAIM,
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_ENABLED,
  ANNOTATION_INGRESS_VIP,
  ANNOTATION_IP_FAMILIES,
  FAMILIES,
  SETTINGS_VARIABLE,
  type Family,
  type Role,
} from '../../../shared/vip.js';
import { vipAllocatorSettings } from '../../../shared/vip-allocator-variable.js';
import type { Queue } from '../../binding-tracker.js';
import type { HookResponse } from '../../server.js';

export const INGRESS: Slot = { role: 'ingress' };

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
export type Allocated = Extract<Allocation, { state: 'allocated' }>;

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
export const retry = (seconds: number, message: string): HookResponse => ({
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
  const fromVariable = vipAllocatorSettings(cluster)?.ipFamilies;
  const annotation = cluster.metadata.annotations?.[ANNOTATION_IP_FAMILIES];
  const [raw, field] =
    fromVariable !== undefined
      ? [fromVariable, `variable ${SETTINGS_VARIABLE}.ipFamilies`]
      : [annotation?.split(',').map((family) => family.trim()), `annotation ${ANNOTATION_IP_FAMILIES}`];
  if (raw === undefined) return [];
  const list = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  const bad = list.find((family) => !FAMILIES.includes(family as Family));
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

export const isConflict = (value: unknown): value is Conflict =>
  typeof value === 'object' && value !== null && 'conflict' in value;
const outcomeOf = (allocation: Allocation): string =>
  allocation.state === 'pending' ? allocation.reason : allocation.state;
const ingressAddress = (ingress: Facts['ingress']): string | undefined =>
  ingress && !isConflict(ingress) && ingress.state === 'allocated' ? ingress.address : undefined;

/** Why the ingress VIP does not come with the control-plane VIP, said once, when that is written. */
function ingressNotes(ingress: Facts['ingress']): Note[] {
  if (!ingress || isConflict(ingress)) return [];
  if (ingress.state === 'allocated') {
    return [
      normal(
        'IngressVIPAllocated',
        `Ingress VIP ${ingress.address} from IPAddressClaim ${ref(ingress.claim)}`,
      ),
    ];
  }
  if (ingress.state === 'no-pool') {
    return [normal('IngressVIPPoolNotFound', `No ingress VIP. ${ingress.message}`)];
  }
  if (ingress.reason === 'exhausted') {
    return [
      warning(
        'IngressVIPPoolExhausted',
        `${ingress.message}; the Cluster is created without an ingress VIP for now`,
      ),
    ];
  }
  return [];
}

/** No ingress VIP will come of this allocation: none wanted, or no pool for it. */
export const noIngressVip = (ingress: Facts['ingress']): boolean =>
  ingress === null || (ingress !== undefined && !isConflict(ingress) && ingress.state === 'no-pool');

/** A path's answer; `decide` adds what every path shares (observations, an ingress conflict). */
type Answer = Omit<Outcome, 'events' | 'observed'> & { readonly events?: readonly Note[] };
type Route = { readonly need: Need } | Answer;
const need = (what: Need): Route => ({ need: what });

/** The outcome for these facts, or the read it needs first. */
export function decide(facts: Facts, settings: Settings): Step {
  const step = route(facts, settings);
  if ('need' in step) return step;
  // Whatever path was taken, every allocation read is counted, and an ingress conflict said first.
  const observed: (readonly [Slot, string])[] = [];
  if (facts.allocations) {
    const slots = controlPlaneSlots(facts.cluster);
    if (isConflict(facts.allocations)) observed.push([slots[0] ?? { role: 'control-plane' }, 'conflict']);
    else {
      facts.allocations.forEach((allocation, i) => {
        const slot = slots[i];
        if (slot) observed.push([slot, outcomeOf(allocation)]);
      });
    }
  }
  if (facts.ingress && !isConflict(facts.ingress)) observed.push([INGRESS, outcomeOf(facts.ingress)]);
  const conflict = isConflict(facts.ingress) ? [warning('VIPClaimConflict', facts.ingress.conflict)] : [];
  return { ...step, events: [...conflict, ...(step.events ?? [])], observed };
}

function route(facts: Facts, settings: Settings): Route {
  const { cluster } = facts;
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
  if (host && host === cluster.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP]) {
    return ingressAfter(facts);
  }
  if (facts.memo) return { response: retry(memoRetrySeconds(facts.queue), facts.memo) };

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
  if (facts.claim === undefined) return need('claim');
  if (host && !facts.claim) return handSet(facts, settings, host);
  if (slots.length > 1 && !facts.claim) {
    if (facts.missingFamily === undefined) return need('missingFamily');
    if (facts.missingFamily) return blocked(facts, settings, facts.missingFamily);
  }
  if (facts.allocations === undefined) return need('allocations');
  if (isConflict(facts.allocations)) {
    return {
      response: { status: 'Failure', message: facts.allocations.conflict },
      events: [warning('VIPClaimConflict', facts.allocations.conflict)],
    };
  }
  const waiting = facts.allocations.find(
    (allocation): allocation is Exclude<Allocation, Allocated> => allocation.state !== 'allocated',
  );
  if (!waiting) return publish(facts, settings, facts.allocations as Allocated[]);
  switch (waiting.state) {
    case 'no-pool':
      return blocked(facts, settings, waiting.message);
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

/** Whether the class lists our GeneratePatches handler (`<handler>.<extension>`). Without it the Cluster is not ours. */
export const classListsOurPatch = (cc: ClusterClass | null, handler: string): boolean =>
  (cc?.spec?.patches ?? []).some((patch) =>
    patch.external?.generatePatchesExtension?.startsWith(`${handler}.`),
  );

/** Whether the class lists our GeneratePatches (`undefined`: not read yet). */
const listsOurPatch = (facts: Facts, settings: Settings): boolean | undefined =>
  facts.clusterClass === undefined
    ? undefined
    : classListsOurPatch(facts.clusterClass, settings.generatePatchesHandler);

/** No pool (for the Cluster, or for a family of its pair): blocked if the class lists our patch. */
function blocked(facts: Facts, settings: Settings, message: string): Route {
  const ours = listsOurPatch(facts, settings);
  if (ours === undefined) return need('clusterClass');
  if (!ours) return { response: success() };
  return { response: retry(RETRY.noPool, message), events: [warning('VIPPoolNotFound', message)] };
}

const portOf = (cluster: Cluster, settings: Settings): number =>
  cluster.spec?.controlPlaneEndpoint?.port || settings.defaultPort;

/**
 * The user chose the endpoint: theirs to keep, but said when it sits inside a pool we hand out. A
 * class that uses our patch gets it published like a VIP of ours, so the InfrastructureCluster
 * and the announcer are born with it, and GeneratePatches knows it is this Cluster's.
 */
function handSet(facts: Facts, settings: Settings, host: string): Route {
  if (facts.hostPool === undefined) return need('hostPool');
  const notes = facts.hostPool
    ? [
        warning(
          'ManualVIPInPool',
          `spec.controlPlaneEndpoint.host ${host} was set by hand and lies inside ${facts.hostPool}, which may hand the same address to another Cluster`,
        ),
      ]
    : [];
  const ours = listsOurPatch(facts, settings);
  if (ours === undefined) return need('clusterClass');
  if (!ours) return { response: success(), events: notes };
  if (facts.ingress === undefined) return need('ingress');
  const port = portOf(facts.cluster, settings);
  return {
    response: retry(
      RETRY.patched,
      `Hand-set endpoint ${host}:${port} published for the class's patches; waiting for CAPI to read it back`,
    ),
    publication: { endpoint: { host, port }, ingress: ingressAddress(facts.ingress) },
    events: [...notes, ...ingressNotes(facts.ingress)],
  };
}

/** Every control-plane claim is bound: the VIPs (and the ingress VIP, if any) are written in one patch. */
function publish(facts: Facts, settings: Settings, [first, second]: readonly Allocated[]): Route {
  if (!first) throw new Error(`Cluster ${ref(facts.cluster)}: no control-plane allocation`);
  // An adopted claim's ingress was not read beside it: read now, never waited for.
  if (facts.ingress === undefined) return need('ingress');
  if (facts.clusterClass === undefined) return need('clusterClass');
  const port = portOf(facts.cluster, settings);
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
      ingress: ingressAddress(facts.ingress),
    },
    events: [
      normal(
        'VIPAllocated',
        `Control-plane VIP ${first.address}:${port} from IPAddressClaim ${ref(first.claim)}` +
          (second ? `, and ${second.address} from IPAddressClaim ${ref(second.claim)}` : ''),
      ),
      ...ingressNotes(facts.ingress),
    ],
    written: true,
    noIngress: noIngressVip(facts.ingress),
  };
}

/** The Cluster carries its VIP: the ingress VIP once its claim binds; waits only briefly, and only while binding. */
function ingressAfter(facts: Facts): Route {
  const { cluster, ingress } = facts;
  if (!wantsIngress(cluster) || cluster.metadata.annotations?.[ANNOTATION_INGRESS_VIP] || facts.noIngress) {
    return { response: success() };
  }
  if (facts.ingressClaim === undefined) return need('ingressClaim');
  // No claim: no ingress pool served the class when the VIP was claimed. A Cluster given its VIP in
  // its create (the admission webhook adopts the control-plane claim only) claims its ingress VIP here.
  const admitted = cluster.metadata.annotations?.[ANNOTATION_ADMITTED_CLAIM] !== undefined;
  if (!facts.ingressClaim && !facts.ingressNext && !admitted) return { response: success(), noIngress: true };
  if (ingress === undefined) return need('ingress');
  if (noIngressVip(ingress)) return { response: success(), noIngress: true };
  const address = ingressAddress(ingress);
  if (address) {
    if (facts.clusterClass === undefined) return need('clusterClass');
    return {
      response: retry(
        RETRY.patched,
        `Ingress VIP ${address} written to the Cluster; waiting for CAPI to read it back`,
      ),
      publication: { ingress: address },
      events: ingressNotes(ingress),
    };
  }
  const age = facts.now - new Date(cluster.metadata.creationTimestamp ?? 0).getTime();
  if (
    ingress &&
    !isConflict(ingress) &&
    ingress.state === 'pending' &&
    ingress.reason === 'binding' &&
    age < INGRESS_BINDING_GRACE_MS
  ) {
    return { response: retry(RETRY.binding, ingress.message) };
  }
  // Later binds are written by the legacy reconciler (--enable-reconciler).
  return { response: success() };
}
