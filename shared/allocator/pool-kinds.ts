import type { PoolKind } from '../kube/gvk.js';
import type { Store } from '../kube/store.js';
import type { IPPool, PoolRef } from '../kube/types.js';

/**
 * The pool kinds this process was told about (--pool-kinds), and what a claim's or address's
 * poolRef resolves to among them: allocating, the duplicate check and quarantine all ask.
 */
export class PoolKinds {
  readonly #store: Store;

  constructor(
    store: Store,
    readonly kinds: readonly PoolKind[],
  ) {
    this.#store = store;
  }

  /** The configured pool kind a poolRef names. */
  kindOf(pool: PoolRef): PoolKind | undefined {
    return this.kinds.find((k) => k.kind === pool.kind && k.apiVersion.startsWith(`${pool.apiGroup}/`));
  }

  /**
   * Where a pool's addresses and claims can be: `namespace` for a namespaced pool kind, everywhere
   * (undefined) for a cluster-scoped one. A kind we were not told about is taken as namespaced: no
   * false matches from other namespaces.
   */
  async scopeOf(pool: PoolRef, namespace: string): Promise<string | undefined> {
    const kind = this.kindOf(pool);
    const namespaced = kind ? ((await this.#store.namespaced(kind)) ?? true) : true;
    return namespaced ? namespace : undefined;
  }

  /** The pool a poolRef names, as listed for `namespace` (undefined: not of a kind we know). */
  async poolOf(pool: PoolRef, namespace: string): Promise<IPPool | undefined> {
    const kind = this.kindOf(pool);
    return kind
      ? (await this.#store.listPools(kind, namespace))?.pools.find((p) => p.metadata.name === pool.name)
      : undefined;
  }
}
