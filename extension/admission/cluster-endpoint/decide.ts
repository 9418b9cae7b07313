/**
 * The Cluster-endpoint admission webhook's whole decision, pure: a Cluster being created is born
 * with its control-plane endpoint when its class's pool keeps a reserve with a bound claim free.
 * Every other case leaves the create unchanged, and BeforeClusterCreate gives the VIP as without the
 * webhook. `decide` names the one read it needs next or gives the outcome; the shell (shell.ts)
 * reads and carries it out. docs/reference/admission-cases.md is its test table (decide.test.ts).
 */
import type { Allocated } from '../../hooks/before-cluster-create/decide.js';
import { classListsOurPatch, controlPlaneSlots } from '../../hooks/before-cluster-create/decide.js';
import type { Allocation } from '../../../shared/allocator/allocator.js';
import type { Slot } from '../../../shared/allocator/claims.js';
import { isPaused, ref, topologyClass } from '../../../shared/cluster.js';
import type { Cluster, ClusterClass } from '../../../shared/kube/types.js';
import type { Publication } from '../../../shared/publish.js';
import { ANNOTATION_ENABLED } from '../../../shared/vip.js';

/** What is known when deciding; each read is `undefined` until asked for, `null` for "there is none". */
export interface AdmissionFacts {
  readonly operation: string;
  readonly dryRun: boolean;
  /** The object being created, if it is a Cluster. */
  readonly cluster?: Cluster;
  /** `--endpoint-at-create` with `--claim-reserve`: there is a reserve to adopt from. */
  readonly enabled: boolean;
  readonly clusterClass?: ClusterClass | null;
  /** The adopted claim, settled (`null`: nothing adopted). */
  readonly allocation?: Allocation | null;
}

export type AdmissionNeed = 'clusterClass' | 'allocation';

export type AdmissionOutcome =
  /** Created as asked; `why` goes to the log line. */
  | { readonly unchanged: string }
  /** Created with the endpoint: the publication, and the claim that holds it. */
  | { readonly publication: Publication; readonly claim: string; readonly slot: Slot };

export type AdmissionStep = { readonly need: AdmissionNeed } | AdmissionOutcome;

export interface AdmissionSettings {
  readonly generatePatchesHandler: string;
  readonly defaultPort: number;
}

const unchanged = (why: string): AdmissionOutcome => ({ unchanged: why });

/** The outcome for these facts, or the read it needs first. */
export function decide(facts: AdmissionFacts, settings: AdmissionSettings): AdmissionStep {
  const { cluster } = facts;
  if (facts.operation !== 'CREATE' || !cluster) return unchanged('not the create of a Cluster');
  if (facts.dryRun) return unchanged('a dry run: nothing is adopted');
  if (!facts.enabled) return unchanged('no reserve to adopt from (--claim-reserve, --endpoint-at-create)');
  if (!topologyClass(cluster) || cluster.metadata.annotations?.[ANNOTATION_ENABLED] === 'false') {
    return unchanged('not ours: no topology, or vip.capi.gorizond.io/enabled is "false"');
  }
  // generateName is resolved after admission: a claim adopted now could not name its Cluster.
  if (!cluster.metadata.name)
    return unchanged('no name yet (generateName): BeforeClusterCreate gives the VIP');
  if (isPaused(cluster)) return unchanged('paused (clusterctl move creates Clusters paused)');
  if (cluster.spec?.controlPlaneEndpoint?.host) {
    return unchanged('carries an endpoint already (set by hand, or moved)');
  }
  let slots: Slot[];
  try {
    slots = controlPlaneSlots(cluster);
  } catch {
    return unchanged('bad ip families: BeforeClusterCreate answers with the field');
  }
  const [slot] = slots;
  if (!slot || slots.length > 1) return unchanged('a dual-stack pair: BeforeClusterCreate claims it');
  if (facts.clusterClass === undefined) return { need: 'clusterClass' };
  if (!classListsOurPatch(facts.clusterClass, settings.generatePatchesHandler)) {
    return unchanged('the class does not list our GeneratePatches');
  }
  if (facts.allocation === undefined) return { need: 'allocation' };
  if (!facts.allocation) return unchanged('no bound claim free in a reserve of the class pool');
  if (facts.allocation.state !== 'allocated') {
    return unchanged(`the adopted claim is not published: ${facts.allocation.message}`);
  }
  const { address, prefix, claim }: Allocated = facts.allocation;
  return {
    publication: {
      endpoint: {
        host: address,
        port: cluster.spec?.controlPlaneEndpoint?.port || settings.defaultPort,
        ...(prefix ? { prefix } : {}),
      },
    },
    claim: claim.metadata.name,
    slot,
  };
}

/** For the log: the Cluster named as the create names it. */
export const describe = (cluster: Cluster | undefined): string =>
  cluster
    ? `Cluster ${cluster.metadata.name ? ref(cluster) : `${cluster.metadata.namespace}/(generateName)`}`
    : '';
