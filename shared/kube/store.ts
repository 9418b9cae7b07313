import {
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1OwnerReference,
} from '@kubernetes/client-node';
/**
 * All Kubernetes I/O of the product behind one interface: the allocator, the hooks, the
 * reconcilers and doctor read and write claims, addresses, pools, Clusters and classes through a
 * Store, so each of them is plain logic against it (and tests swap in shared/testing/fake-store.ts).
 */
import { ClaimWatch } from './claim-watch.js';
import { isConflict, isNotFound, statusCode } from './errors.js';
import {
  apiVersion,
  CLUSTER,
  CLUSTER_CLASS,
  IP_ADDRESS,
  IP_ADDRESS_CLAIM,
  typeMeta,
  type Gvk,
  type PoolKind,
} from './gvk.js';
import type { Cluster, ClusterClass, ClusterVariable, IPAddress, IPAddressClaim, IPPool } from './types.js';
import { LABEL_ROLE, type Endpoint } from '../vip.js';

export interface Store {
  /** Pools of a kind (in `namespace` when the kind is namespaced); undefined when it is not served. */
  listPools(kind: PoolKind, namespace: string): Promise<PoolList | undefined>;
  getClaim(namespace: string, name: string): Promise<IPAddressClaim | undefined>;
  /**
   * Claims in `namespace` (all namespaces when undefined): only those labelled with one of our
   * roles when `labelled`, else every claim (doctor also finds the original's unlabelled ones);
   * and only those `labels` selects.
   */
  listClaims(scope: ClaimScope): Promise<IPAddressClaim[]>;
  /**
   * The claim once `done` holds for it, or its newest version when `timeoutMs` runs out or `signal`
   * aborts (the hook call was given up). Event driven: waiting costs no request.
   */
  waitForClaim(
    claim: IPAddressClaim,
    done: (claim: IPAddressClaim) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<IPAddressClaim>;
  /** Creates the claim; resolves to undefined when one of that name already exists. */
  createClaim(claim: IPAddressClaim): Promise<IPAddressClaim | undefined>;
  /**
   * Merges labels and annotations (`null` removes one) and sets the owner list, guarded by the
   * claim's resourceVersion (a concurrent change is a 409).
   */
  patchClaim(claim: IPAddressClaim, meta: ClaimMeta): Promise<IPAddressClaim>;
  /**
   * Deletes the claim, guarded by its uid (and by its resourceVersion when `unchanged`: a claim
   * changed since it was read is kept). False when it was kept: replaced, or changed (a claim the
   * provider bound a moment ago must not be deleted under a call that is publishing its address).
   * Gone already is true.
   */
  deleteClaim(claim: IPAddressClaim, options?: { unchanged?: boolean }): Promise<boolean>;
  getAddress(namespace: string, name: string): Promise<IPAddress | undefined>;
  /** Sets a label on an IPAddress (the duplicate check's key, see duplicates.ts). */
  labelAddress(address: IPAddress, key: string, value: string): Promise<void>;
  /**
   * IPAddresses carrying label `key=value` (any value of `key` when `value` is undefined), read
   * live from the API server: in `namespace`, or in all namespaces when undefined.
   */
  listAddresses(namespace: string | undefined, key: string, value?: string): Promise<IPAddress[]>;
  /** Whether a pool kind is namespaced; undefined when it is not served. */
  namespaced(kind: PoolKind): Promise<boolean | undefined>;
  getClusterClass(namespace: string, name: string): Promise<ClusterClass | undefined>;
  /** ClusterClasses in `namespace`, or in all namespaces when undefined. */
  listClusterClasses(namespace?: string): Promise<ClusterClass[]>;
  getCluster(namespace: string, name: string): Promise<Cluster | undefined>;
  /** Clusters in `namespace` (all namespaces when undefined), those carrying `label` when given. */
  listClusters(namespace?: string, label?: string): Promise<Cluster[]>;
  /**
   * Writes the endpoint, annotations, labels and topology variables given, in one patch, to this
   * Cluster only: a Cluster re-created under its name (another uid) is never written, nor is an
   * endpoint written over another host (ClusterChangedError says which). The write is guarded by
   * the version `cluster` was read at; on a conflict the live Cluster is read and checked again.
   */
  patchCluster(cluster: Cluster, patch: ClusterPatch): Promise<void>;
}

/** Which claims a list returns; `labels`: values those labels must have. */
export interface ClaimScope {
  readonly namespace?: string | undefined;
  readonly labelled: boolean;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A Kubernetes label selector for a scope. */
function claimSelector(scope: ClaimScope): string | undefined {
  const terms = [
    ...(scope.labelled ? [LABEL_ROLE] : []),
    ...Object.entries(scope.labels ?? {}).map(([key, value]) => `${key}=${value}`),
  ];
  return terms.length ? terms.join(',') : undefined;
}

export interface ClaimMeta {
  readonly labels?: Record<string, string | null>;
  readonly annotations?: Record<string, string | null>;
  readonly ownerReferences?: V1OwnerReference[];
}

export interface PoolList {
  readonly namespaced: boolean;
  readonly pools: IPPool[];
}

/** KubernetesObjectApi with its discovery cache opened up: a pool kind's scope is whatever the API says. */
export class Objects extends KubernetesObjectApi {
  async namespaced(apiVersion: string, kind: string): Promise<boolean | undefined> {
    return (await this.discovered(apiVersion, kind))?.namespaced;
  }

  /** The kind's resource (plural name, scope) from discovery; undefined when it is not served. */
  async discovered(
    apiVersion: string,
    kind: string,
  ): Promise<{ name: string; namespaced: boolean } | undefined> {
    try {
      return await this.resource(apiVersion, kind);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

/** Why a write to a Cluster was refused: it is not the Cluster it was meant for any more. */
export class ClusterChangedError extends Error {
  constructor(
    readonly cluster: Cluster,
    readonly why: 'gone' | 'replaced' | 'endpoint',
    /** The Cluster as it is, for `endpoint`: which of the caller's addresses it does not carry. */
    readonly live?: Cluster,
  ) {
    const host = live?.spec?.controlPlaneEndpoint?.host;
    super(
      `Cluster ${cluster.metadata.namespace}/${cluster.metadata.name} uid ${cluster.metadata.uid ?? '(none)'} ` +
        (why === 'gone'
          ? 'is gone: nothing written'
          : why === 'replaced'
            ? 'was deleted and created again under its name (another uid): nothing written'
            : `carries endpoint ${host ?? '?'} already: another is never written over it`),
    );
    this.name = 'ClusterChangedError';
  }
}

/**
 * Why `live` may not take `patch` meant for `cluster`, or undefined when it may: not the same
 * Cluster, or an endpoint other than the one written. Both stores decide with this.
 */
export function refusal(
  cluster: Cluster,
  live: Cluster | undefined,
  patch: ClusterPatch,
): ClusterChangedError | undefined {
  if (!live) return new ClusterChangedError(cluster, 'gone');
  if (cluster.metadata.uid && live.metadata.uid !== cluster.metadata.uid)
    return new ClusterChangedError(cluster, 'replaced');
  const host = live.spec?.controlPlaneEndpoint?.host;
  if (patch.endpoint && host && host !== patch.endpoint.host)
    return new ClusterChangedError(cluster, 'endpoint', live);
  return undefined;
}

/** One write to a Cluster (see shared/publish.ts). */
export interface ClusterPatch {
  endpoint?: Endpoint;
  /** `null` removes the annotation. */
  annotations: Record<string, string | null>;
  labels?: Record<string, string>;
  /** Topology variables to set (or replace) in the same write, e.g. the legacy `clusterVip`. */
  variables?: ClusterVariable[];
}

/** `variables` with each of `set` replaced where it is and appended where it is not. */
export function withVariables(
  variables: readonly ClusterVariable[],
  set: readonly ClusterVariable[],
): ClusterVariable[] {
  const value = new Map(set.map((v) => [v.name, v.value]));
  const kept = variables.map((v) => (value.has(v.name) ? { ...v, value: value.get(v.name) } : v));
  return [...kept, ...set.filter((s) => !variables.some((v) => v.name === s.name))];
}

/** Read-modify-write attempts when another writer changes the Cluster in between. */
const CONFLICT_ATTEMPTS = 5;

const FIELD_MANAGER = 'capi-vip-allocator';

const metaKey = (obj: { metadata: { namespace: string; name: string } }) => ({
  name: obj.metadata.name,
  namespace: obj.metadata.namespace,
});

async function readOrUndefined<T extends KubernetesObject>(
  api: KubernetesObjectApi,
  type: Gvk,
  namespace: string,
  name: string,
): Promise<T | undefined> {
  try {
    return await api.read<T>({ ...typeMeta(type), metadata: { name, namespace } });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

const list = async <T extends KubernetesObject>(
  api: KubernetesObjectApi,
  type: Gvk,
  namespace?: string,
  labelSelector?: string,
): Promise<T[]> =>
  (
    await api.list<T>(
      apiVersion(type),
      type.kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
    )
  ).items;

export class KubeStore implements Store {
  readonly #api: Objects;
  readonly #claims: ClaimWatch;
  readonly #poolLists = new Map<string, Promise<PoolList | undefined>>();

  constructor(kc: KubeConfig) {
    this.#api = kc.makeApiClient(Objects);
    this.#claims = new ClaimWatch(kc, LABEL_ROLE);
  }

  /** Ends the claim watch (it starts with the first wait). */
  close(): void {
    this.#claims.stop();
  }

  namespaced(kind: PoolKind): Promise<boolean | undefined> {
    return this.#api.namespaced(kind.apiVersion, kind.kind);
  }

  listPools(kind: PoolKind, namespace: string): Promise<PoolList | undefined> {
    // Calls that want the same list while one is on its way share it: a burst in one namespace
    // (or on a global pool) then costs one LIST per moment, not one per Cluster.
    const key = `${kind.apiVersion}/${kind.kind}/${namespace}`;
    let list = this.#poolLists.get(key);
    if (!list) {
      list = this.#listPools(kind, namespace).finally(() => this.#poolLists.delete(key));
      this.#poolLists.set(key, list);
    }
    return list;
  }

  async #listPools(kind: PoolKind, namespace: string): Promise<PoolList | undefined> {
    // A configured pool kind whose CRD is not installed simply has no pools.
    const namespaced = await this.namespaced(kind);
    if (namespaced === undefined) return undefined;
    const list = await this.#api.list<IPPool>(kind.apiVersion, kind.kind, namespaced ? namespace : undefined);
    return { namespaced, pools: list.items };
  }

  getClaim(namespace: string, name: string): Promise<IPAddressClaim | undefined> {
    return readOrUndefined(this.#api, IP_ADDRESS_CLAIM, namespace, name);
  }

  listClaims(scope: ClaimScope): Promise<IPAddressClaim[]> {
    return list(this.#api, IP_ADDRESS_CLAIM, scope.namespace, claimSelector(scope));
  }

  waitForClaim(
    claim: IPAddressClaim,
    done: (claim: IPAddressClaim) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<IPAddressClaim> {
    // The watch selects our role label; an adopted claim of the original's without it is looked
    // at again on CAPI's next call instead.
    if (claim.metadata.labels?.[LABEL_ROLE] === undefined) return Promise.resolve(claim);
    return this.#claims.until(
      claim,
      done,
      timeoutMs,
      () => this.getClaim(claim.metadata.namespace, claim.metadata.name),
      signal,
    );
  }

  async createClaim(claim: IPAddressClaim): Promise<IPAddressClaim | undefined> {
    try {
      return await this.#api.create<IPAddressClaim>(claim, undefined, undefined, FIELD_MANAGER);
    } catch (err) {
      if (isConflict(err)) return undefined;
      throw err;
    }
  }

  async patchClaim(claim: IPAddressClaim, meta: ClaimMeta): Promise<IPAddressClaim> {
    const patch = {
      ...typeMeta(IP_ADDRESS_CLAIM),
      metadata: {
        ...metaKey(claim),
        // A merge patch replaces the whole owner list; the resourceVersion makes a concurrent change a 409.
        resourceVersion: claim.metadata.resourceVersion,
        ...meta,
      },
    };
    return (await this.#mergePatch(patch)) as IPAddressClaim;
  }

  /** A JSON merge patch (`null` removes a key, lists are replaced whole) under our field manager. */
  #mergePatch(body: object): Promise<KubernetesObject> {
    return this.#api.patch(body, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
  }

  async deleteClaim(claim: IPAddressClaim, options: { unchanged?: boolean } = {}): Promise<boolean> {
    try {
      await this.#api.delete(claim, undefined, undefined, undefined, undefined, undefined, {
        preconditions: {
          uid: claim.metadata.uid,
          ...(options.unchanged ? { resourceVersion: claim.metadata.resourceVersion } : {}),
        },
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return true;
      // Replaced by a claim of the same name, or changed since it was read: kept.
      if (isConflict(err)) return false;
      throw err;
    }
  }

  getAddress(namespace: string, name: string): Promise<IPAddress | undefined> {
    return readOrUndefined(this.#api, IP_ADDRESS, namespace, name);
  }

  async labelAddress(address: IPAddress, key: string, value: string): Promise<void> {
    await this.#mergePatch({
      ...typeMeta(IP_ADDRESS),
      metadata: { ...metaKey(address), labels: { [key]: value } },
    });
  }

  listAddresses(namespace: string | undefined, key: string, value?: string): Promise<IPAddress[]> {
    return list(this.#api, IP_ADDRESS, namespace, value === undefined ? key : `${key}=${value}`);
  }

  getClusterClass(namespace: string, name: string): Promise<ClusterClass | undefined> {
    return readOrUndefined(this.#api, CLUSTER_CLASS, namespace, name);
  }

  listClusterClasses(namespace?: string): Promise<ClusterClass[]> {
    return list(this.#api, CLUSTER_CLASS, namespace);
  }

  getCluster(namespace: string, name: string): Promise<Cluster | undefined> {
    return readOrUndefined(this.#api, CLUSTER, namespace, name);
  }

  listClusters(namespace?: string, label?: string): Promise<Cluster[]> {
    return list<Cluster & KubernetesObject>(this.#api, CLUSTER, namespace, label);
  }

  async patchCluster(cluster: Cluster, patch: ClusterPatch): Promise<void> {
    const body = (read: Cluster) => ({
      ...typeMeta(CLUSTER),
      metadata: {
        ...metaKey(cluster),
        annotations: patch.annotations,
        ...(patch.labels ? { labels: patch.labels } : {}),
        // Never a Cluster re-created under the name: a uid that differs is refused by the API server.
        ...(cluster.metadata.uid ? { uid: cluster.metadata.uid } : {}),
        // The checks below hold for this version only; a merge patch also replaces the whole
        // variables list, so it must be the version they were read at.
        ...(read.metadata.resourceVersion ? { resourceVersion: read.metadata.resourceVersion } : {}),
      },
      spec: {
        ...(patch.endpoint ? { controlPlaneEndpoint: patch.endpoint } : {}),
        ...(patch.variables
          ? { topology: { variables: withVariables(read.spec?.topology?.variables ?? [], patch.variables) } }
          : {}),
      },
    });
    const live = () => this.getCluster(cluster.metadata.namespace, cluster.metadata.name);
    // The caller's copy first (the hook's request, a cache): no read while it is current. Variables
    // are merged into a list, so they start from a live read.
    let read: Cluster | undefined = patch.variables ? await live() : cluster;
    for (let attempt = 1; ; attempt++) {
      const refused = refusal(cluster, read, patch);
      if (refused) throw refused;
      try {
        await this.#mergePatch(body(read as Cluster));
        return;
      } catch (err) {
        if (isNotFound(err)) throw new ClusterChangedError(cluster, 'gone');
        // Another uid is refused as an immutable field (422, tried on the plane), not a conflict.
        if (statusCode(err) === 422) {
          throw refusal(cluster, await live(), patch) ?? err;
        }
        if (!isConflict(err) || attempt >= CONFLICT_ATTEMPTS) throw err;
      }
      read = await live();
    }
  }
}
