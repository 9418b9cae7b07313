/**
 * The Cluster-endpoint admission webhook (`--endpoint-at-create`): a Cluster whose class's pool
 * keeps a reserve is created with its control-plane endpoint, our annotations and `clusterVip`
 * where the class declares it, so BeforeClusterCreate answers at once from what it carries, and
 * CAPI never sees a Cluster change its endpoint after it exists. The shell reads what `decide`
 * (decide.ts) asks for and turns the outcome into a JSON patch. It never denies a create: every
 * failure leaves the create as asked, and the hook gives the VIP then.
 */
import type { Allocator } from '../../../shared/allocator/allocator.js';
import type { Slot } from '../../../shared/allocator/claims.js';
import { topologyClass } from '../../../shared/cluster.js';
import { reason } from '../../../shared/kube/errors.js';
import type { Cluster, ClusterClass } from '../../../shared/kube/types.js';
import { clusterPatch } from '../../../shared/publish.js';
import { clusterKeys } from '../../../shared/log.js';
import { ANNOTATION_ADMITTED_CLAIM } from '../../../shared/vip.js';
import { cluster as validCluster, RequestError } from '../../validate.js';
import { jsonPatchOf, type AdmissionRequest, type Review } from '../review.js';
import { controlPlaneSlots } from '../../hooks/before-cluster-create/decide.js';
import {
  decide,
  describe,
  type AdmissionFacts,
  type AdmissionNeed,
  type AdmissionSettings,
} from './decide.js';

/** Where the API server calls it (the MutatingWebhookConfiguration's clientConfig path). */
export const CLUSTER_ENDPOINT_PATH = '/mutate-cluster-endpoint';

export interface ClusterEndpointDeps extends AdmissionSettings {
  readonly allocator: Allocator;
  readonly getClusterClass: (namespace: string, name: string) => Promise<ClusterClass | undefined>;
  /** `--endpoint-at-create` and `--claim-reserve` both on. */
  readonly enabled: boolean;
  readonly observe?: (slot: Slot, result: string) => void;
  readonly observeTimeToVip?: (seconds: number) => void;
}

const isClusterKind = (request: AdmissionRequest): boolean =>
  request.kind?.group === 'cluster.x-k8s.io' && request.kind.kind === 'Cluster';

/** The Cluster the request creates; one without a name yet (generateName) is taken as it is. */
function clusterOf(request: AdmissionRequest): Cluster | undefined {
  if (!isClusterKind(request)) return undefined;
  const named = (request.object as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
  return named ? validCluster(request.object, 'request.object') : (request.object as Cluster);
}

export function clusterEndpointWebhook(
  deps: ClusterEndpointDeps,
): (request: AdmissionRequest) => Promise<Review> {
  async function read(need: AdmissionNeed, facts: AdmissionFacts): Promise<AdmissionFacts> {
    // decide asks for reads only about a topology Cluster.
    const { cluster } = facts;
    const classRef = cluster && topologyClass(cluster);
    if (!cluster || !classRef) throw new Error(`${describe(cluster)}: ${need} asked without a class`);
    switch (need) {
      case 'clusterClass':
        return {
          ...facts,
          clusterClass: (await deps.getClusterClass(classRef.namespace, classRef.name)) ?? null,
        };
      case 'allocation': {
        // decide asks only for a Cluster of one control-plane slot.
        const [slot = { role: 'control-plane' }] = controlPlaneSlots(cluster);
        return {
          ...facts,
          allocation: (await deps.allocator.adoptAtCreate(cluster, classRef.name, slot)) ?? null,
        };
      }
    }
  }

  return async (request) => {
    let cluster: Cluster | undefined;
    try {
      cluster = clusterOf(request);
    } catch (err) {
      // Not for us to refuse: the API server's schema validation, after admission, says what is wrong.
      if (!(err instanceof RequestError)) throw err;
      return { outcome: 'unchanged', why: `not read: ${err.message}`, keys: {} };
    }
    // CAPI's log keys; a Cluster with no name yet (generateName) is named by its namespace alone.
    const keys = cluster ? clusterKeys(cluster) : {};
    let facts: AdmissionFacts = {
      operation: request.operation,
      dryRun: request.dryRun === true,
      enabled: deps.enabled,
      ...(cluster ? { cluster } : {}),
    };
    let step = decide(facts, deps);
    while ('need' in step) {
      try {
        facts = await read(step.need, facts);
      } catch (err) {
        return { outcome: 'unchanged', why: `could not read the ${step.need}: ${reason(err)}`, keys };
      }
      step = decide(facts, deps);
    }
    if ('unchanged' in step || !cluster) {
      return { outcome: 'unchanged', why: 'unchanged' in step ? step.unchanged : 'no Cluster', keys };
    }
    const patch = clusterPatch(step.publication, facts.clusterClass ?? undefined);
    patch.annotations[ANNOTATION_ADMITTED_CLAIM] = step.claim;
    deps.observe?.(step.slot, 'allocated');
    // Born with it: no time passes between the Cluster and its VIP.
    deps.observeTimeToVip?.(0);
    return {
      patch: jsonPatchOf(cluster, patch),
      outcome: 'endpoint',
      why: `control-plane VIP ${step.publication.endpoint?.host ?? ''} from IPAddressClaim ${cluster.metadata.namespace}/${step.claim}`,
      keys,
    };
  };
}
