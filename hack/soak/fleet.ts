/**
 * What the soak runs on: two namespaces with a ClusterClass each, their pools, a global pool both
 * share, and the reads the checks make. Every address is in 198.18.0.0/24 (the benchmarking range
 * of RFC 2544), each pool in its own part of it, except the overlap pool, which covers another
 * namespace's on purpose; hosts set by hand come from a part no pool ever reaches.
 */
import { PatchStrategy, type KubernetesObjectApi } from '@kubernetes/client-node';
import type { AuditInput } from '../../shared/audit.js';
import {
  apiVersion,
  CLUSTER,
  GLOBAL_IN_CLUSTER_IP_POOL,
  IN_CLUSTER_IP_POOL,
  IP_ADDRESS,
  IP_ADDRESS_CLAIM,
} from '../../shared/kube/gvk.js';
import type { Cluster, IPAddress, IPAddressClaim, IPPool } from '../../shared/kube/types.js';
import { isQuarantined } from '../../shared/quarantine.js';
import { isFreeReserve } from '../../shared/allocator/reserve.js';
import { ANNOTATION_RESERVE, ANNOTATION_RESERVE_NAMESPACES, LABEL_ROLE } from '../../shared/vip.js';
import { clusterClass, inClusterIPPool, vipLabels, type Obj } from '../fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, kube, readOrUndefined } from '../fixtures/kube.js';
import { FirstVersions } from '../fixtures/vip.js';

export const CLASS = 'soak';
const SUBNET = '198.18.0.';
/** Hosts set by hand: .200 to .249, beyond every pool's largest range. */
export const HAND_SET = Array.from({ length: 50 }, (_, i) => `${SUBNET}${200 + i}`);
/** A claim may look leaked this long before it counts (its Cluster's garbage collection may lag). */
export const LEAK_GRACE_MS = 60_000;

let api: KubernetesObjectApi | undefined;
/** Made on first use: `npm run soak` points KUBECONFIG at the plane after the imports. */
const objects = (): KubernetesObjectApi => (api ??= kube().objects);

/** One pool: where it is, its part of the subnet, and what it is now. */
export interface PoolPlan {
  readonly label: string;
  readonly kind: 'InClusterIPPool' | 'GlobalInClusterIPPool';
  readonly namespace?: string;
  readonly name: string;
  readonly first: number;
  /** Its largest part (a grown pool stops there), and its size now. */
  readonly max: number;
  size: number;
  reserve?: { size: number; namespaces?: string[] };
}

export const rangeOf = (plan: Pick<PoolPlan, 'first' | 'size'>): string =>
  `${SUBNET}${plan.first}-${SUBNET}${plan.first + plan.size - 1}`;

/** The addresses of a plan's part, as it is now. */
const addressesOf = (plan: Pick<PoolPlan, 'first' | 'size'>): string[] =>
  Array.from({ length: plan.size }, (_, i) => `${SUBNET}${plan.first + i}`);

export const poolName = (plan: PoolPlan): string =>
  `${plan.kind} ${plan.namespace ? `${plan.namespace}/` : ''}${plan.name}`;

const poolVersion = apiVersion(IN_CLUSTER_IP_POOL);
const ipam = apiVersion(IP_ADDRESS_CLAIM);

/** The pool's object as the plan says it is now (reserve annotations included). */
function poolObject(plan: PoolPlan): Obj {
  const reserve = plan.reserve
    ? {
        [ANNOTATION_RESERVE]: String(plan.reserve.size),
        ...(plan.reserve.namespaces
          ? { [ANNOTATION_RESERVE_NAMESPACES]: plan.reserve.namespaces.join(',') }
          : {}),
      }
    : undefined;
  const pool = inClusterIPPool(plan.namespace ?? '', plan.name, [rangeOf(plan)], {
    labels: vipLabels(CLASS),
    ...(reserve ? { annotations: reserve } : {}),
  });
  return plan.namespace
    ? pool
    : {
        ...pool,
        kind: plan.kind,
        metadata: { name: plan.name, labels: pool.metadata.labels, annotations: pool.metadata.annotations },
      };
}

const poolRef = (plan: PoolPlan) => ({
  apiVersion: poolVersion,
  kind: plan.kind,
  metadata: { name: plan.name, ...(plan.namespace ? { namespace: plan.namespace } : {}) },
});

const mergePatch = (body: object) =>
  objects().patch(body, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);

export class Fleet {
  readonly namespaces: readonly [string, string];
  readonly pools: readonly PoolPlan[];
  readonly #firsts: Map<string, FirstVersions>;

  private constructor(namespaces: [string, string], pools: PoolPlan[], firsts: Map<string, FirstVersions>) {
    this.namespaces = namespaces;
    this.pools = pools;
    this.#firsts = firsts;
  }

  /** First versions of a namespace's InfrastructureClusters: what each was born with. */
  firsts(namespace: string): FirstVersions | undefined {
    return this.#firsts.get(namespace);
  }

  /** Two `soak-` namespaces with the class and a pool each, and the global pool, named after `run`. */
  static async create(run: string): Promise<Fleet> {
    const namespaces: [string, string] = [await createNamespace('soak-a'), await createNamespace('soak-b')];
    const [a, b] = namespaces;
    const pools: PoolPlan[] = [
      {
        label: 'a',
        kind: 'InClusterIPPool',
        namespace: a,
        name: 'pool',
        first: 10,
        max: 30,
        size: 20,
      },
      {
        label: 'b',
        kind: 'InClusterIPPool',
        namespace: b,
        name: 'pool',
        first: 40,
        max: 30,
        size: 20,
      },
      {
        label: 'global',
        kind: 'GlobalInClusterIPPool',
        name: `soak-${run}`,
        first: 70,
        max: 30,
        size: 20,
      },
      // Over the whole of pool a's part, in the other namespace; it sorts before `pool` there, so it is taken first.
      {
        label: 'overlap',
        kind: 'InClusterIPPool',
        namespace: b,
        name: 'overlap',
        first: 10,
        max: 30,
        size: 30,
      },
    ];
    const fleet = new Fleet(namespaces, pools, new Map());
    try {
      for (const ns of namespaces) {
        fleet.#firsts.set(ns, await FirstVersions.start('capd', ns));
        for (const o of clusterClass('capd', ns, CLASS)) await objects().create(o);
      }
      for (const plan of pools.filter((p) => p.label !== 'overlap')) await fleet.createPool(plan);
    } catch (err) {
      await fleet.remove();
      throw err;
    }
    return fleet;
  }

  pool(label: string): PoolPlan {
    const plan = this.pools.find((p) => p.label === label);
    if (!plan) throw new Error(`No pool ${label} in the soak's plan`);
    return plan;
  }

  readPool(plan: PoolPlan): Promise<IPPool | undefined> {
    return readOrUndefined(poolRef(plan) as Obj) as Promise<IPPool | undefined>;
  }

  async createPool(plan: PoolPlan): Promise<void> {
    await objects().create(poolObject(plan));
  }

  async deletePool(plan: PoolPlan): Promise<void> {
    await objects().delete(poolRef(plan));
  }

  /** Takes the provider's finalizer off a pool being deleted, as an impatient admin does: it goes at once. */
  async dropFinalizers(plan: PoolPlan): Promise<void> {
    await mergePatch({ ...poolRef(plan), metadata: { ...poolRef(plan).metadata, finalizers: null } });
  }

  /** Writes the plan's range and reserve onto the live pool. */
  async patchPool(plan: PoolPlan): Promise<void> {
    const { metadata, spec } = poolObject(plan);
    await mergePatch({
      ...poolRef(plan),
      metadata: {
        ...poolRef(plan).metadata,
        annotations: {
          [ANNOTATION_RESERVE]: null,
          [ANNOTATION_RESERVE_NAMESPACES]: null,
          ...metadata.annotations,
        },
      },
      spec: { addresses: spec?.addresses },
    });
  }

  /** Waits up to `ms` for a deleted pool to be gone (the provider keeps one while addresses are in use). */
  async gone(plan: PoolPlan, ms: number): Promise<boolean> {
    return eventually(
      `${poolName(plan)} to be gone`,
      async () => ((await this.readPool(plan)) ? undefined : true),
      ms,
    ).catch(() => false);
  }

  /** Clusters of the fleet, from one list (a consistent view of all of them). */
  async clusters(namespace?: string): Promise<Cluster[]> {
    const all = (await objects().list<Cluster>(apiVersion(CLUSTER), CLUSTER.kind, namespace)).items;
    return all.filter((c) => this.namespaces.includes(c.metadata.namespace));
  }

  async claims(): Promise<IPAddressClaim[]> {
    const all = await objects().list<IPAddressClaim>(
      ipam,
      IP_ADDRESS_CLAIM.kind,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      LABEL_ROLE,
    );
    return all.items.filter((c) => this.namespaces.includes(c.metadata.namespace));
  }

  /**
   * One look at the fleet for `audit`: Clusters first, so a VIP seen on a Cluster was backed before
   * the lists read after it; each kind from one list across namespaces.
   */
  async look(): Promise<AuditInput> {
    const clusters = await this.clusters();
    const claims = await this.claims();
    const addresses = (await objects().list<IPAddress>(ipam, IP_ADDRESS.kind)).items.filter((a) =>
      this.namespaces.includes(a.metadata.namespace),
    );
    const namespaced = (await objects().list<IPPool>(poolVersion, IN_CLUSTER_IP_POOL.kind)).items.filter(
      (p) => this.namespaces.includes(p.metadata.namespace ?? ''),
    );
    const global = (await objects().list<IPPool>(poolVersion, GLOBAL_IN_CLUSTER_IP_POOL.kind)).items;
    return {
      clusters,
      claims,
      addresses,
      pools: [...namespaced, ...global],
      now: new Date(),
      leakGraceMs: LEAK_GRACE_MS,
    };
  }

  /**
   * What each namespace's Clusters without a VIP could be given: the addresses of the pools that
   * serve it (its own, being deleted or not, and the global one), less those our claims hold for
   * Clusters. A free reserve claim's address and one held in quarantine count as free: the
   * reserve gives way to a waiting Cluster and the quarantine ends, by the product's promise.
   */
  async room(): Promise<{ waiting: Map<string, string[]>; free: Map<string, Set<string>> }> {
    const { clusters, claims, addresses } = await this.look();
    const claimOf = new Map(claims.map((c) => [`${c.metadata.namespace}/${c.metadata.name}`, c]));
    const held = new Set(
      addresses.flatMap((a) => {
        const claim = claimOf.get(`${a.metadata.namespace}/${a.spec.claimRef.name}`);
        const passing = !claim || isFreeReserve(claim) || isQuarantined(claim);
        return passing ? [] : [a.spec.address];
      }),
    );
    const present: PoolPlan[] = [];
    for (const plan of this.pools) if (await this.readPool(plan)) present.push(plan);
    const waiting = new Map<string, string[]>();
    const free = new Map<string, Set<string>>();
    for (const ns of this.namespaces) {
      const mine = clusters.filter((c) => c.metadata.namespace === ns && !c.metadata.deletionTimestamp);
      // A Cluster given a host by hand needs no address of ours.
      waiting.set(
        ns,
        mine.filter((c) => !c.spec?.controlPlaneEndpoint?.host).map((c) => c.metadata.name),
      );
      const serving = present.filter((p) => !p.namespace || p.namespace === ns);
      free.set(ns, new Set(serving.flatMap(addressesOf).filter((a) => !held.has(a))));
    }
    return { waiting, free };
  }

  /** Deletes the namespaces and the global pool (the namespace controller takes the rest). */
  async remove(): Promise<void> {
    for (const f of this.#firsts.values()) f.stop();
    await objects()
      .delete(poolRef(this.pool('global')))
      .catch(() => undefined);
    for (const ns of this.namespaces) await deleteNamespace(ns);
  }
}
