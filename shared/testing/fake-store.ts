/**
 * An in-memory Store for unit tests of the allocator and the hooks: our seam, not a mock of the
 * API server. It plays the IPAM provider too: `bindOnCreate` (or `bind`) hands a claim an address
 * the way the in-cluster provider does (an IPAddress named after the claim, then status.addressRef).
 * `calls` counts every store call, so a test can assert what a path costs in API requests.
 */
import type { ClaimMeta, ClaimScope, ClusterPatch, PoolList, Store } from '../kube/store.js';
import type { Recorder, Regarding, EventType } from '../events.js';
import type { Cluster, ClusterClass, IPAddress, IPAddressClaim, IPPool, PoolRef } from '../kube/types.js';
import { refusal, withVariables } from '../kube/store.js';
import { DEFAULT_POOL_KINDS, type PoolKind } from '../kube/gvk.js';
import { newReserveClaim, reserveView, type ReserveView } from '../allocator/reserve.js';
import { watched, type Held, type Watched } from '../allocator/watched.js';
import { LABEL_ROLE, type Role } from '../vip.js';

const key = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

type Waiter = () => void;

export class FakeStore implements Store {
  readonly calls = new Map<string, number>();
  readonly pools = new Map<string, IPPool[]>();
  readonly claims = new Map<string, IPAddressClaim>();
  readonly addresses = new Map<string, IPAddress>();
  readonly clusters = new Map<string, Cluster>();
  readonly classes = new Map<string, ClusterClass>();
  readonly patches: { cluster: string; patch: ClusterPatch }[] = [];
  /** Set to bind each new claim at once to the address this returns (undefined: leave it pending). */
  bindOnCreate?: (claim: IPAddressClaim) => string | undefined;
  #uid = 0;
  #rv = 0;
  readonly #waiters = new Set<Waiter>();

  constructor(readonly kinds: readonly PoolKind[] = DEFAULT_POOL_KINDS) {}

  #count(call: string): void {
    this.calls.set(call, (this.calls.get(call) ?? 0) + 1);
  }

  /** Total store calls (API requests, for the real store) since the last reset. */
  get requests(): number {
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  resetCalls(): void {
    this.calls.clear();
  }

  #meta<T extends { metadata: { uid?: string; resourceVersion?: string } }>(obj: T): T {
    obj.metadata.uid ??= `uid-${++this.#uid}`;
    obj.metadata.resourceVersion = String(++this.#rv);
    return obj;
  }

  addPool(kind: PoolKind, pool: IPPool): IPPool {
    const list = this.pools.get(kind.kind) ?? [];
    list.push(this.#meta(pool));
    this.pools.set(kind.kind, list);
    return pool;
  }

  addCluster(cluster: Cluster): Cluster {
    this.clusters.set(key(cluster.metadata.namespace, cluster.metadata.name), this.#meta(cluster));
    return cluster;
  }

  addClass(cc: ClusterClass): ClusterClass {
    this.classes.set(key(cc.metadata.namespace, cc.metadata.name), this.#meta(cc));
    return cc;
  }

  /** The provider's part: an IPAddress named after the claim, then the claim's addressRef. */
  bind(claim: IPAddressClaim, address: string, prefix = 24): IPAddress {
    const ip = this.#meta<IPAddress>({
      apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
      kind: 'IPAddress',
      metadata: { name: claim.metadata.name, namespace: claim.metadata.namespace },
      spec: { address, prefix, claimRef: { name: claim.metadata.name }, poolRef: claim.spec.poolRef },
    });
    this.addresses.set(key(ip.metadata.namespace, ip.metadata.name), ip);
    const stored = this.claims.get(key(claim.metadata.namespace, claim.metadata.name));
    if (stored) {
      stored.status = { addressRef: { name: ip.metadata.name } };
      this.#meta(stored);
    }
    for (const wake of this.#waiters) wake();
    return ip;
  }

  /** The reserve reconciler's part: a bound reserve claim of the pool per address, as stored here. */
  async fillReserve(
    namespace: string,
    pool: PoolRef,
    role: Role,
    ...addresses: string[]
  ): Promise<IPAddressClaim[]> {
    const made: IPAddressClaim[] = [];
    for (const address of addresses) {
      const created = (await this.createClaim(newReserveClaim(namespace, pool, role))) as IPAddressClaim;
      this.bind(created, address);
      made.push(this.claims.get(key(namespace, created.metadata.name)) as IPAddressClaim);
    }
    return made;
  }

  /** The reserve as the reserve reconciler's cache would show it: this store's claims, read live. */
  reserveView(): ReserveView {
    return reserveView(() => [...this.claims.values()].map((c) => structuredClone(c)));
  }

  /** The process's watches as they would show this store: current, and costing no call. */
  watched(): Watched {
    const held = <T extends { metadata: { namespace?: string; name: string } }>(
      objects: () => T[],
    ): Held<T> => ({
      get: (namespace, name) =>
        structuredClone(
          objects().find((o) => o.metadata.namespace === namespace && o.metadata.name === name),
        ),
      list: () => structuredClone(objects()),
      synced: () => true,
    });
    return watched(
      // The claims' watch selects our role label.
      held(() => [...this.claims.values()].filter((c) => c.metadata.labels?.[LABEL_ROLE] !== undefined)),
      held(() => [...this.addresses.values()]),
      held(() => [...this.clusters.values()]),
    );
  }

  namespaced(kind: PoolKind): Promise<boolean | undefined> {
    // Discovery is cached by the real store: no request.
    return Promise.resolve(kind.kind.startsWith('Global') ? false : true);
  }

  async listPools(kind: PoolKind, namespace: string): Promise<PoolList | undefined> {
    this.#count('listPools');
    if (!this.kinds.some((k) => k.kind === kind.kind)) return undefined;
    const namespaced = (await this.namespaced(kind)) ?? true;
    const pools = (this.pools.get(kind.kind) ?? []).filter(
      (p) => !namespaced || p.metadata.namespace === namespace,
    );
    return { namespaced, pools: structuredClone(pools) };
  }

  async getClaim(namespace: string, name: string): Promise<IPAddressClaim | undefined> {
    this.#count('getClaim');
    return structuredClone(this.claims.get(key(namespace, name)));
  }

  async listClaims(scope: ClaimScope): Promise<IPAddressClaim[]> {
    this.#count('listClaims');
    return structuredClone(
      [...this.claims.values()].filter(
        (c) =>
          (scope.namespace === undefined || c.metadata.namespace === scope.namespace) &&
          // Unlabelled claims stay in for `labelled`: the original's claims are listed by tests that way.
          Object.entries(scope.labels ?? {}).every(([k, v]) => c.metadata.labels?.[k] === v),
      ),
    );
  }

  /** Like the real store's watch: no call is counted while waiting. */
  async waitForClaim(
    claim: IPAddressClaim,
    done: (claim: IPAddressClaim) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<IPAddressClaim> {
    const current = (): IPAddressClaim =>
      structuredClone(this.claims.get(key(claim.metadata.namespace, claim.metadata.name))) ?? claim;
    if (done(current()) || timeoutMs <= 0 || signal?.aborted) return current();
    return new Promise((resolve) => {
      const finish = (): void => {
        this.#waiters.delete(wake);
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        resolve(current());
      };
      const wake: Waiter = () => done(current()) && finish();
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.#waiters.add(wake);
    });
  }

  async createClaim(claim: IPAddressClaim): Promise<IPAddressClaim | undefined> {
    this.#count('createClaim');
    const k = key(claim.metadata.namespace, claim.metadata.name);
    if (this.claims.has(k)) return undefined;
    const stored = this.#meta(structuredClone(claim));
    this.claims.set(k, stored);
    const address = this.bindOnCreate?.(stored);
    if (address) this.bind(stored, address);
    return structuredClone(this.claims.get(k));
  }

  async patchClaim(claim: IPAddressClaim, meta: ClaimMeta): Promise<IPAddressClaim> {
    this.#count('patchClaim');
    const stored = this.claims.get(key(claim.metadata.namespace, claim.metadata.name));
    if (!stored || stored.metadata.resourceVersion !== claim.metadata.resourceVersion) {
      throw Object.assign(new Error('conflict'), { code: 409 });
    }
    // A merge patch: null removes the key.
    const merge = (into: Record<string, string> = {}, from: Record<string, string | null> = {}) =>
      Object.fromEntries(
        Object.entries({ ...into, ...from }).filter((e): e is [string, string] => e[1] !== null),
      );
    stored.metadata.labels = merge(stored.metadata.labels, meta.labels);
    stored.metadata.annotations = merge(stored.metadata.annotations, meta.annotations);
    if (meta.ownerReferences) stored.metadata.ownerReferences = meta.ownerReferences;
    return structuredClone(this.#meta(stored));
  }

  async deleteClaim(claim: IPAddressClaim, options: { unchanged?: boolean } = {}): Promise<boolean> {
    this.#count('deleteClaim');
    const k = key(claim.metadata.namespace, claim.metadata.name);
    const stored = this.claims.get(k);
    if (!stored) return true;
    if (stored.metadata.uid !== claim.metadata.uid) return false;
    if (options.unchanged && stored.metadata.resourceVersion !== claim.metadata.resourceVersion) return false;
    this.claims.delete(k);
    // The provider releases the address with the claim.
    this.addresses.delete(k);
    return true;
  }

  async getAddress(namespace: string, name: string): Promise<IPAddress | undefined> {
    this.#count('getAddress');
    return structuredClone(this.addresses.get(key(namespace, name)));
  }

  async labelAddress(address: IPAddress, label: string, value: string): Promise<void> {
    this.#count('labelAddress');
    const stored = this.addresses.get(key(address.metadata.namespace, address.metadata.name));
    if (stored) stored.metadata.labels = { ...stored.metadata.labels, [label]: value };
  }

  async listAddresses(namespace: string | undefined, label: string, value?: string): Promise<IPAddress[]> {
    this.#count('listAddresses');
    return structuredClone(
      [...this.addresses.values()].filter(
        (a) =>
          (namespace === undefined || a.metadata.namespace === namespace) &&
          (value === undefined
            ? a.metadata.labels?.[label] !== undefined
            : a.metadata.labels?.[label] === value),
      ),
    );
  }

  async getClusterClass(namespace: string, name: string): Promise<ClusterClass | undefined> {
    this.#count('getClusterClass');
    return structuredClone(this.classes.get(key(namespace, name)));
  }

  async listClusterClasses(namespace?: string): Promise<ClusterClass[]> {
    this.#count('listClusterClasses');
    return [...this.classes.values()].filter((c) => !namespace || c.metadata.namespace === namespace);
  }

  async getCluster(namespace: string, name: string): Promise<Cluster | undefined> {
    this.#count('getCluster');
    return structuredClone(this.clusters.get(key(namespace, name)));
  }

  async listClusters(namespace?: string, label?: string): Promise<Cluster[]> {
    this.#count('listClusters');
    return [...this.clusters.values()].filter(
      (c) =>
        (!namespace || c.metadata.namespace === namespace) &&
        (label === undefined || c.metadata.labels?.[label] !== undefined),
    );
  }

  async patchCluster(cluster: Cluster, patch: ClusterPatch): Promise<void> {
    this.#count('patchCluster');
    const k = key(cluster.metadata.namespace, cluster.metadata.name);
    const stored = this.clusters.get(k);
    // The real store's guard: this Cluster only, and never another endpoint over the one it
    // carries. A Cluster a test never added is taken as there, unchanged.
    const refused = stored && refusal(cluster, stored, patch);
    if (refused) throw refused;
    this.patches.push({ cluster: k, patch });
    if (!stored) return;
    const annotations = { ...stored.metadata.annotations, ...patch.annotations };
    stored.metadata.annotations = Object.fromEntries(
      Object.entries(annotations).filter((e): e is [string, string] => e[1] !== null),
    );
    if (patch.labels) stored.metadata.labels = { ...stored.metadata.labels, ...patch.labels };
    stored.spec ??= {};
    if (patch.endpoint) stored.spec.controlPlaneEndpoint = patch.endpoint;
    if (patch.variables && stored.spec.topology) {
      stored.spec.topology.variables = withVariables(stored.spec.topology.variables ?? [], patch.variables);
    }
    this.#meta(stored);
  }
}

/** Events as a list, for assertions. */
export class FakeRecorder implements Recorder {
  readonly events: { regarding: string; type: EventType; reason: string; note: string }[] = [];

  async event(regarding: Regarding, type: EventType, reason: string, note: string): Promise<void> {
    this.events.push({ regarding: regarding.metadata.name, type, reason, note });
  }

  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}
